/**
 * What `islb list / describe / call` know of a server's methods: from server reflection over
 * NATS (v1, else v1alpha), or from .proto files. A method converts JSON to request bytes and
 * response bytes to JSON.
 */
import { RequestStrategy, type NatsConnection } from "nats";
import { tokenProblem } from "../subjects.js";
import {
  createFileRegistry,
  fromBinary,
  fromJsonString,
  toBinary,
  toJsonString,
  type DescMessage,
  type DescService,
  type FileRegistry,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import {
  ServerReflectionDefinition as V1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../generated/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition as V1Alpha } from "../../generated/grpc/reflection/v1alpha/reflection.js";
import { ClientError, Status } from "../status.js";
import { createClient, type CreateClientOptions } from "../transport/client.js";
import { describeDesc } from "./describe.js";

/** A method as the CLI calls it: JSON in, JSON out. */
export interface DynamicMethod {
  /** `pkg.Service` */
  service: string;
  name: string;
  requestStream: boolean;
  responseStream: boolean;
  /** Throws a UsageError saying where the JSON is wrong. */
  encode(json: string): Uint8Array;
  decode(bytes: Uint8Array): string;
}

export interface Schema {
  services(): Promise<string[]>;
  methods(service: string): Promise<string[]>;
  describe(symbol: string): Promise<string>;
  method(service: string, name: string): Promise<DynamicMethod>;
}

/** A mistake of the person at the keyboard: printed as it is, exit code 1. */
export class UsageError extends Error {}

async function* one<T>(x: T): AsyncGenerator<T> {
  yield x;
}

/**
 * Schemas from server reflection, asked over NATS. With a node id, of that server. Without one,
 * of every server on the bus that serves reflection under the prefix, found with NATS micro
 * discovery ($SRV.INFO): several servers (islb and a media node, say) share the reflection
 * subject and any one of them would answer it, so a symbol is looked up on each until one knows
 * it, and its files are read from that server; `list` shows every server's services. A bus
 * where no server answers discovery is asked on the shared subject.
 */
export class ReflectionSchema implements Schema {
  private registry: FileRegistry | undefined;
  private readonly files = new Map<string, FileDescriptorProto>();
  private version: typeof V1 | typeof V1Alpha = V1;
  private found: Promise<Array<string | undefined>> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: CreateClientOptions,
  ) {}

  /** Asks the server `nid` (undefined: any server on the shared subject). */
  private async ask(req: Partial<ServerReflectionRequest>, nid = this.options.nid): Promise<ServerReflectionResponse> {
    for (;;) {
      const client = createClient(this.version as typeof V1, this.nc, { ...this.options, nid });
      try {
        for await (const r of client.serverReflectionInfo(one(req as ServerReflectionRequest), { deadline: 5000 }))
          return r;
        throw new UsageError("the server ended the reflection stream without an answer");
      } catch (e) {
        if (e instanceof ClientError && e.code === Status.UNIMPLEMENTED && this.version === V1) {
          this.version = V1Alpha;
          continue;
        }
        if (e instanceof ClientError && e.code === Status.UNAVAILABLE) {
          throw new UsageError(
            `no server answers reflection on ${this.options.prefix ?? "nrpc"}.${nid ? `${nid}.` : ""}grpc.reflection.v1.ServerReflection.ServerReflectionInfo (${e.details}); give the schema with --proto`,
          );
        }
        throw e;
      }
    }
  }

  /**
   * The servers to ask: the one named by --nid; else the node ids of the servers that answer
   * micro discovery with a reflection endpoint under this prefix (a server without a node id
   * cannot be asked alone: it is reached on the shared subject), else the shared subject alone.
   */
  private servers(): Promise<Array<string | undefined>> {
    if (this.options.nid !== undefined && this.options.nid !== "") return Promise.resolve([this.options.nid]);
    this.found ??= discoverReflection(this.nc, this.options.prefix ?? "nrpc");
    return this.found;
  }

  async services(): Promise<string[]> {
    const all = new Set<string>();
    let answered = 0;
    let last: unknown;
    for (const nid of await this.servers()) {
      let r: ServerReflectionResponse;
      try {
        r = await this.ask({ listServices: "" }, nid);
      } catch (e) {
        last = e;
        continue;
      }
      if (r.errorResponse !== undefined) throw new UsageError(`reflection: ${r.errorResponse.errorMessage}`);
      answered++;
      for (const s of r.listServicesResponse?.service ?? []) all.add(s.name);
    }
    if (answered === 0) throw last;
    return [...all].sort();
  }

  /** Loads the file defining `symbol` and its dependencies; false when no server asked knows it. */
  private async load(symbol: string): Promise<boolean> {
    let last: unknown;
    let answered = 0;
    for (const nid of await this.servers()) {
      let r: ServerReflectionResponse;
      try {
        r = await this.ask({ fileContainingSymbol: symbol }, nid);
      } catch (e) {
        last = e;
        continue;
      }
      answered++;
      if (r.errorResponse !== undefined) continue;
      await this.loadFiles(r.fileDescriptorResponse?.fileDescriptorProto ?? [], nid);
      return true;
    }
    if (answered === 0) throw last;
    return false;
  }

  /** Adds `files` and what they import, asked of the server that gave them. */
  private async loadFiles(files: Uint8Array[], nid: string | undefined): Promise<void> {
    const pending = [...files];
    while (pending.length > 0) {
      const f = fromBinary(FileDescriptorProtoSchema, pending.shift() as Uint8Array);
      if (this.files.has(f.name)) continue;
      this.files.set(f.name, f);
      for (const dep of f.dependency) {
        if (this.files.has(dep)) continue;
        const d = await this.ask({ fileByFilename: dep }, nid);
        if (d.errorResponse !== undefined)
          throw new UsageError(`reflection: the server has no file ${dep} (needed by ${f.name})`);
        pending.push(...(d.fileDescriptorResponse?.fileDescriptorProto ?? []));
      }
    }
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: this.dependenciesFirst() }));
  }

  /** The files loaded, each after every file it imports (as the registry wants them). */
  private dependenciesFirst(): FileDescriptorProto[] {
    const out: FileDescriptorProto[] = [];
    const done = new Set<string>();
    const visit = (f: FileDescriptorProto): void => {
      if (done.has(f.name)) return;
      done.add(f.name);
      for (const d of f.dependency) {
        const dep = this.files.get(d);
        if (dep !== undefined) visit(dep);
      }
      out.push(f);
    };
    for (const f of this.files.values()) visit(f);
    return out;
  }

  private where(): string {
    return this.options.nid ? `the server ${this.options.nid}` : "no server on the bus";
  }

  private async service(name: string): Promise<DescService> {
    if (this.registry?.getService(name) === undefined) {
      const loaded = await this.load(name);
      if (!loaded || this.registry?.getService(name) === undefined) {
        const known = await this.services();
        const what = loaded ? `${name} is not a service` : `${this.where()} has the service ${name}`;
        throw new UsageError(`${what}; ${this.options.nid ? "it has" : "the services"}: ${known.join(", ") || "none"}`);
      }
    }
    return this.registry?.getService(name) as DescService;
  }

  async methods(service: string): Promise<string[]> {
    return (await this.service(service)).methods.map((m) => `${service}.${m.name}`);
  }

  async describe(symbol: string): Promise<string> {
    const s = symbol.replace(/^\./, "");
    if (this.registry?.get(s) === undefined && !(await this.load(s)))
      throw new UsageError(
        `${this.options.nid ? `the server ${this.options.nid}` : "no server on the bus"} knows the symbol ${s}`,
      );
    let d: Parameters<typeof describeDesc>[0] | undefined = this.registry?.get(s);
    if (d === undefined) {
      const dot = s.lastIndexOf(".");
      d = this.registry?.getService(s.slice(0, dot))?.methods.find((m) => m.name === s.slice(dot + 1));
    }
    if (d === undefined) throw new UsageError(`${this.where()} knows the symbol ${s}`);
    return describeDesc(d);
  }

  async method(service: string, name: string): Promise<DynamicMethod> {
    const svc = await this.service(service);
    const m = svc.methods.find((x) => x.name === name);
    if (m === undefined)
      throw new UsageError(
        `service ${service} has no method ${name}; it has: ${svc.methods.map((x) => x.name).join(", ")}`,
      );
    return bufMethod(service, m.name, m.methodKind, m.input, m.output, this.registry as FileRegistry);
  }
}

function bufMethod(
  service: string,
  name: string,
  kind: string,
  input: DescMessage,
  output: DescMessage,
  registry: FileRegistry,
): DynamicMethod {
  return {
    service,
    name,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    encode(json) {
      try {
        return toBinary(input, fromJsonString(input, json, { registry }));
      } catch (e) {
        throw new UsageError(`bad request for ${service}/${name} (${input.typeName}): ${(e as Error).message}`);
      }
    },
    decode(bytes) {
      return toJsonString(output, fromBinary(output, bytes), { registry });
    },
  };
}

/**
 * Schemas from .proto files: parsed with protobufjs and turned into descriptors, so JSON is
 * read as strictly (unknown keys refused) and describe prints as in the reflection mode.
 */
export class ProtoFileSchema implements Schema {
  private constructor(private readonly registry: FileRegistry) {}

  static async load(files: string[], importPaths: string[]): Promise<ProtoFileSchema> {
    // protobufjs is loaded only for --proto.
    const { loadProtoFiles } = await import("./proto-files.js");
    try {
      return new ProtoFileSchema(await loadProtoFiles(files, importPaths));
    } catch (e) {
      throw new UsageError(`cannot load ${files.join(", ")}: ${(e as Error).message}`);
    }
  }

  async services(): Promise<string[]> {
    const out: string[] = [];
    for (const t of this.registry) if (t.kind === "service") out.push(t.typeName);
    return out.sort();
  }

  private async service(name: string): Promise<DescService> {
    const s = this.registry.getService(name.replace(/^\./, ""));
    if (s === undefined)
      throw new UsageError(
        `the .proto files define no service ${name}; they have: ${(await this.services()).join(", ") || "none"}`,
      );
    return s;
  }

  async methods(service: string): Promise<string[]> {
    return (await this.service(service)).methods.map((m) => `${service}.${m.name}`);
  }

  async describe(symbol: string): Promise<string> {
    const s = symbol.replace(/^\./, "");
    const dot = s.lastIndexOf(".");
    const d =
      this.registry.get(s) ??
      this.registry.getService(s.slice(0, dot))?.methods.find((m) => m.name === s.slice(dot + 1));
    if (d === undefined) throw new UsageError(`the .proto files define no symbol ${s}`);
    return describeDesc(d);
  }

  async method(service: string, name: string): Promise<DynamicMethod> {
    const svc = await this.service(service);
    const m = svc.methods.find((x) => x.name === name);
    if (m === undefined)
      throw new UsageError(
        `service ${service} has no method ${name}; it has: ${svc.methods.map((x) => x.name).join(", ")}`,
      );
    return bufMethod(service, m.name, m.methodKind, m.input, m.output, this.registry);
  }
}

/**
 * The node ids of the servers under `prefix` that serve reflection, from NATS micro discovery
 * (every server that answers within a moment); [undefined] (the shared subject) when none does.
 */
async function discoverReflection(nc: NatsConnection, prefix: string): Promise<Array<string | undefined>> {
  const subjects = new Set(
    ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].map(
      (s) => `${prefix}.${s}.ServerReflectionInfo`,
    ),
  );
  const ids = new Set<string>();
  try {
    const replies = await nc.requestMany("$SRV.INFO", undefined, {
      strategy: RequestStrategy.JitterTimer,
      maxWait: 1000,
      jitter: 150,
    });
    for await (const m of replies) {
      let info: { id?: unknown; endpoints?: Array<{ subject?: unknown }> };
      try {
        info = m.json();
      } catch {
        continue;
      }
      if (typeof info.id === "string" && (info.endpoints ?? []).some((e) => subjects.has(String(e.subject))))
        ids.add(info.id);
    }
  } catch {
    // No discovery on this bus (no responders, permissions): the shared subject.
  }
  const out: Array<string | undefined> = [...ids].filter((id) => tokenProblem("id", id) === undefined).sort();
  // The shared subject last: it reaches a server whose micro id is not its node id.
  out.push(undefined);
  return out;
}
