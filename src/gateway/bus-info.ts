/**
 * What the bus says about itself: NATS micro discovery (`$SRV.INFO`, every instance
 * answers) and gRPC reflection over NATS (any instance, or one node's). Used to learn
 * method kinds and to answer reflection for the services behind the gateway.
 */
import { RequestStrategy, type NatsConnection } from "nats";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import {
  ServerReflectionDefinition,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../generated/grpc/reflection/v1/reflection.js";
import { createClient } from "../index.js";

/** One method an instance offers, as micro discovery lists it. */
export interface Endpoint {
  /** `/pkg.Service/Method` */
  path: string;
  /** `unary`, `server_stream`, `client_stream` or `bidi` */
  kind: string;
}

/** One instance's answer to `$SRV.INFO`. */
export interface Instance {
  name: string;
  /** The instance id: our servers give their node id. */
  id: string;
  endpoints: Endpoint[];
}

const decoder = new TextDecoder();

function parseInfo(data: Uint8Array): Instance | undefined {
  try {
    const v = JSON.parse(decoder.decode(data)) as {
      type?: string;
      name?: string;
      id?: string;
      endpoints?: Array<{ metadata?: Record<string, string> | null }> | null;
    };
    if (v.type !== "io.nats.micro.v1.info_response" || typeof v.id !== "string") return undefined;
    const endpoints: Endpoint[] = [];
    for (const e of v.endpoints ?? []) {
      const path = e.metadata?.path;
      const kind = e.metadata?.kind;
      if (typeof path === "string" && typeof kind === "string") endpoints.push({ path, kind });
    }
    return { name: String(v.name ?? ""), id: v.id, endpoints };
  } catch {
    return undefined;
  }
}

/** Every instance that answers `$SRV.INFO` within `waitMs` (at most `max` of them). */
export async function microInstances(nc: NatsConnection, waitMs = 250, max = 1024): Promise<Instance[]> {
  const out: Instance[] = [];
  try {
    const replies = await nc.requestMany("$SRV.INFO", undefined, {
      strategy: RequestStrategy.Timer,
      maxWait: waitMs,
      maxMessages: max,
    });
    for await (const m of replies) {
      const i = parseInfo(m.data);
      if (i !== undefined) out.push(i);
    }
  } catch {
    /* nobody answers (no responders), or the connection is closing: nothing known */
  }
  return out;
}

async function* one<T>(x: T): AsyncGenerator<T> {
  yield x;
}

/** Asks the bus's reflection one question (v1; our servers answer v1alpha the same way). */
export async function askReflection(
  nc: NatsConnection,
  prefix: string,
  req: Partial<ServerReflectionRequest>,
  nid?: string,
  timeoutMs = 2000,
): Promise<ServerReflectionResponse> {
  const client = createClient(ServerReflectionDefinition, nc, { prefix, nid });
  for await (const r of client.serverReflectionInfo(one({ host: "", ...req }), { deadline: timeoutMs })) return r;
  throw new Error("the reflection stream ended without an answer");
}

/** The file descriptors of a reflection answer (empty when it is an error). */
export function filesOf(r: ServerReflectionResponse): FileDescriptorProto[] {
  return (r.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/** The methods of `service` as the files describe them, with their kinds. */
export function methodsIn(files: FileDescriptorProto[], service: string): Endpoint[] {
  for (const f of files) {
    for (const s of f.service) {
      if ((f.package === "" ? s.name : `${f.package}.${s.name}`) !== service) continue;
      return s.method.map((m) => ({
        path: `/${service}/${m.name}`,
        kind: m.clientStreaming
          ? m.serverStreaming
            ? "bidi"
            : "client_stream"
          : m.serverStreaming
            ? "server_stream"
            : "unary",
      }));
    }
  }
  return [];
}
