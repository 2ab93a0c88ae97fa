/** The services the gateway answers itself, added to its options: health and reflection. */
import type { NatsConnection } from "nats";
import { Access } from "./access.js";
import type { LocalHandler } from "./bridge.js";
import { ConnectionHealth, healthHandlers } from "./health.js";
import type { GatewayOptions } from "./server.js";
import { GatewayReflection } from "./reflection.js";
import { JsonCodecs } from "./json.js";
import { islbDescriptors } from "../reflection/descriptors.js";
import { DEFAULT_PREFIX } from "../index.js";

/** `options` with the gateway's own health and reflection services, and JSON schemas from reflection. */
export function withOwnServices(nc: NatsConnection, options: GatewayOptions): GatewayOptions {
  const access = new Access(options);
  const local = new Map<string, LocalHandler>(options.local ?? []);
  for (const [k, v] of healthHandlers(new ConnectionHealth(nc), access)) local.set(k, v);
  const reflection = new GatewayReflection(nc, options.prefix ?? DEFAULT_PREFIX, access, islbDescriptors());
  for (const [k, v] of reflection.handlers()) local.set(k, v);
  return { ...options, local, json: options.json ?? new JsonCodecs((service) => reflection.files(service)) };
}
