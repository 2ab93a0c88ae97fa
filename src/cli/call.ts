/** `islb call`: one call of any method, JSON in and out, grpcurl's habits. */
import type { NatsConnection } from "nats";
import { ClientError, Status, statusName } from "../status.js";
import { Metadata } from "../metadata.js";
import { createClient, type CreateClientOptions } from "../transport/client.js";
import type { MessageCodec, ServiceDefinition } from "../transport/definition.js";
import { UsageError, type DynamicMethod } from "./schema.js";

/** Bytes through unchanged: the CLI encodes and decodes JSON itself. */
const RAW: MessageCodec<Uint8Array> = {
  encode: (m) => ({ finish: () => m }),
  decode: (b) => b,
  fromJSON: () => {
    throw new Error("not used");
  },
  toJSON: () => {
    throw new Error("not used");
  },
  fromPartial: (m) => m as unknown as Uint8Array,
};

/** `pkg.Service/Method` or `pkg.Service.Method`. */
export function splitMethod(arg: string): { service: string; method: string } {
  const slash = arg.indexOf("/");
  const at = slash >= 0 ? slash : arg.lastIndexOf(".");
  const service = arg.slice(0, at).replace(/^\//, "");
  const method = arg.slice(at + 1);
  if (at <= 0 || method === "" || service === "")
    throw new UsageError(`${JSON.stringify(arg)} is not SERVICE/METHOD (e.g. islb.ISLB/FindNode)`);
  return { service, method };
}

/** `key: value` headers as metadata (`-bin` keys take base64). */
export function parseHeaders(hs: string[]): Metadata {
  const md = Metadata();
  for (const h of hs) {
    const i = h.indexOf(":");
    if (i <= 0) throw new UsageError(`header ${JSON.stringify(h)} is not 'key: value'`);
    const key = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim();
    try {
      md.append(key, (key.endsWith("-bin") ? new Uint8Array(Buffer.from(value, "base64")) : value) as never);
    } catch (e) {
      throw new UsageError(`header ${JSON.stringify(h)}: ${(e as Error).message}`);
    }
  }
  return md;
}

/** A duration: 2s, 500ms, 1m, 1.5 (seconds). */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (m === null) throw new UsageError(`timeout ${JSON.stringify(s)} is not a duration like 2s, 500ms or 1m`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] as number);
}

/** JSON documents from text: one, several (JSON lines), or none. */
export function jsonDocuments(text: string): string[] {
  const t = text.trim();
  if (t === "") return [];
  try {
    JSON.parse(t);
    return [t];
  } catch {
    return t
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
  }
}

/** What a JSON value is, for an error message. */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

/**
 * Refuses documents that are valid JSON but not objects (a request is a message); text that is
 * not JSON at all is left to the schema, which says where it is wrong.
 */
function checkObjects(inputs: string[], streaming: boolean): void {
  for (const d of inputs) {
    let v: unknown;
    try {
      v = JSON.parse(d);
    } catch {
      continue;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new UsageError(
        `${streaming ? "each request must be a JSON object (one a line)" : "the request must be a JSON object"}, not ${kindOf(v)}`,
      );
  }
}

async function* docs(method: DynamicMethod, inputs: string[]): AsyncGenerator<Uint8Array> {
  for (const d of inputs) yield method.encode(d);
}

/** Calls `method`, printing each response as one JSON document. Throws ClientError on a non-OK status. */
export async function callMethod(
  nc: NatsConnection,
  method: DynamicMethod,
  inputs: string[],
  options: {
    client: CreateClientOptions;
    metadata: Metadata;
    timeoutMs?: number;
    out: (line: string) => void;
    signal?: AbortSignal;
  },
): Promise<void> {
  if (!method.requestStream && inputs.length > 1)
    throw new UsageError(`${method.service}/${method.name} takes one request; got ${inputs.length} JSON documents`);
  checkObjects(inputs, method.requestStream);
  const requests = inputs.length === 0 ? ["{}"] : inputs;
  const def = {
    name: method.service.split(".").pop() as string,
    fullName: method.service,
    methods: {
      m: {
        name: method.name,
        requestType: RAW,
        requestStream: method.requestStream,
        responseType: RAW,
        responseStream: method.responseStream,
        options: {},
      },
    },
  } satisfies ServiceDefinition;
  const client = createClient(def, nc, options.client) as unknown as Record<
    "m",
    (req: unknown, o: unknown) => AsyncIterable<Uint8Array> | Promise<Uint8Array>
  >;
  const callOptions = { metadata: options.metadata, deadline: options.timeoutMs, signal: options.signal };
  const request = method.requestStream ? docs(method, requests) : method.encode(requests[0] as string);
  const result = client.m(request, callOptions);
  if (method.responseStream) {
    for await (const r of result as AsyncIterable<Uint8Array>) options.out(method.decode(r));
  } else {
    options.out(method.decode(await (result as Promise<Uint8Array>)));
  }
}

/** grpcurl's convention: a non-OK status exits with 64 + its code. */
export function exitCodeOf(e: unknown): number {
  return e instanceof ClientError ? 64 + e.code : 1;
}

/** The line printed on stderr for a failed call. */
export function errorLine(e: unknown): string {
  if (e instanceof ClientError) return `ERROR: ${statusName(e.code)}: ${e.details}`;
  return `ERROR: ${(e as Error).message}`;
}

export { Status };
