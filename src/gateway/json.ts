/**
 * JSON for Connect clients (connect-web's default format): the gateway gets a service's
 * schema from the bus's reflection, once in a while, and converts each message between the
 * proto3 JSON mapping and binary, so the bus still carries binary.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Status, type Metadata } from "../index.js";
import { DescriptorJson } from "../reflection/json.js";
import type { CallSink, Requests } from "./bridge.js";
import { FramingError } from "./framing.js";

/** How long a schema is kept; a service without one is asked again sooner. */
const KEEP_MS = 300_000;
const RETRY_MS = 10_000;
const MAX_SERVICES = 256;

/** The files with each after its dependencies (reflection sends them the other way round). */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (f: FileDescriptorProto): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependency) {
      const dep = byName.get(d);
      if (dep !== undefined) visit(dep);
    }
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

/** Schemas by service, for JSON. */
export class JsonCodecs {
  private readonly cache = new Map<string, { at: number; ok: boolean; codec: Promise<DescriptorJson | undefined> }>();

  /** @param files the files defining a service and their dependencies ([] when unknown) */
  constructor(private readonly files: (service: string) => Promise<FileDescriptorProto[]>) {}

  /** The JSON codec of a service, or undefined when the bus describes it to nobody. */
  codec(service: string): Promise<DescriptorJson | undefined> {
    const now = Date.now();
    const c = this.cache.get(service);
    if (c !== undefined && now - c.at < (c.ok ? KEEP_MS : RETRY_MS)) return c.codec;
    if (c === undefined && this.cache.size >= MAX_SERVICES) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    const entry = { at: now, ok: true, codec: Promise.resolve<DescriptorJson | undefined>(undefined) };
    entry.codec = this.files(service).then(
      (files) => {
        try {
          if (files.length === 0) throw new Error("no schema");
          return new DescriptorJson(
            toBinary(
              FileDescriptorSetSchema,
              create(FileDescriptorSetSchema, {
                file: dependenciesFirst(files).map((f) => create(FileDescriptorProtoSchema, f)),
              }),
            ),
          );
        } catch {
          entry.ok = false;
          return undefined;
        }
      },
      () => {
        entry.ok = false;
        return undefined;
      },
    );
    this.cache.set(service, entry);
    return entry.codec;
  }
}

/** Request messages in JSON, as binary (a message that is not valid JSON for its type is INVALID_ARGUMENT). */
export function jsonRequests(requests: Requests, codec: DescriptorJson, path: string): Requests {
  const decoder = new TextDecoder();
  const convert = (m: Uint8Array): Uint8Array => {
    try {
      return codec.requestFromJson(path, decoder.decode(m));
    } catch (e) {
      throw new FramingError(Status.INVALID_ARGUMENT, `invalid JSON request: ${(e as Error).message}`);
    }
  };
  return {
    single: async () => {
      const m = await requests.single();
      return m === undefined ? undefined : convert(m);
    },
    async *[Symbol.asyncIterator]() {
      for await (const m of requests) yield convert(m);
    },
  };
}

/** A sink that takes binary responses and passes them on as JSON. */
export class JsonSink implements CallSink {
  constructor(
    private readonly inner: CallSink,
    private readonly codec: DescriptorJson,
    private readonly path: string,
  ) {}

  header(md: Metadata): void {
    this.inner.header(md);
  }

  message(bytes: Uint8Array): Promise<void> | undefined {
    let json: string;
    try {
      json = this.codec.responseToJson(this.path, bytes);
    } catch (e) {
      throw new FramingError(Status.INTERNAL, `cannot write the response as JSON: ${(e as Error).message}`);
    }
    return this.inner.message(Buffer.from(json));
  }

  end(code: Status, message: string, trailer: Metadata): void {
    this.inner.end(code, message, trailer);
  }
}
