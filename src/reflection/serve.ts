/**
 * One call giving any server of ours reflection and NATS micro discovery from the user's own
 * descriptor set, so `islb list / describe / call --nid <nid>` and `nats micro ls` work on it.
 */
import type { NatsConnection } from "nats";
import { serveMicro } from "../micro/discovery.js";
import type { NatsServer } from "../transport/server.js";
import { VERSION } from "../version.js";
import { DescriptorIndex, islbDescriptorSet } from "./descriptors.js";
import { addReflection } from "./mount.js";
import type { Reflection } from "./reflection.js";

export interface ReflectionOptions {
  /** Name in NATS micro discovery: letters, digits, - and _ (default: the first service's name, e.g. "SFU"). */
  name?: string;
  /** Semantic version in micro discovery (default: islb's). */
  version?: string;
  /** Description in micro discovery. */
  description?: string;
  /** Metadata in micro discovery. */
  metadata?: Record<string, string>;
  /** Micro instance id (default: the server's node id once listening, else a random one). */
  id?: string;
}

/** What `serveReflection` set up. */
export interface ServedReflection {
  /** The reflection answering for the server. */
  readonly reflection: Reflection;
  /** Stops answering micro discovery (reflection ends with the server). */
  stop(): void;
}

/**
 * Adds gRPC reflection (v1 and v1alpha) to `server` over `descriptorSet` (serialized
 * FileDescriptorSets, e.g. from `buf build -o set.binpb`; several are merged, and islb's own
 * descriptors are added for the reflection and health services), and answers NATS micro
 * discovery on `nc`. Call it after adding your services and before `server.listen(nc)`.
 */
export function serveReflection(
  server: NatsServer,
  nc: NatsConnection,
  descriptorSet: Uint8Array | readonly Uint8Array[],
  options: ReflectionOptions = {},
): ServedReflection {
  const sets = descriptorSet instanceof Uint8Array ? [descriptorSet] : [...descriptorSet];
  // A FileDescriptorSet is one repeated field: serialized sets concatenate into their union.
  const merged = Buffer.concat([islbDescriptorSet(), ...sets]);
  const reflection = addReflection(server, new DescriptorIndex(merged));
  const first = server.serviceNames.find((s) => !s.startsWith("grpc.reflection."));
  const name = options.name ?? (first?.split(".").pop() ?? "service").replace(/[^A-Za-z0-9_-]/g, "_");
  const stop = serveMicro(nc, server, {
    name,
    id: options.id,
    version: options.version ?? VERSION,
    description: options.description,
    metadata: options.metadata,
  });
  return { reflection, stop };
}
