/**
 * The shape of ts-proto's generic service definitions (`outputServices=generic-definitions`
 * or `nice-grpc`), and the typed client and implementation derived from one.
 */
import type { CallContext, CallOptions } from "nice-grpc-common";

/** Encoding functions ts-proto generates for each message. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
  fromPartial(object: never): T;
}

/** One method of a generic definition. */
export interface MethodDefinition<
  Req = any,
  Res = any,
  ReqStream extends boolean = boolean,
  ResStream extends boolean = boolean,
> {
  readonly name: string;
  readonly requestType: MessageCodec<Req>;
  readonly requestStream: ReqStream;
  readonly responseType: MessageCodec<Res>;
  readonly responseStream: ResStream;
  readonly options: { readonly idempotencyLevel?: "IDEMPOTENT" | "NO_SIDE_EFFECTS" } & Record<string, unknown>;
}

/** A generic service definition: `fullName` is `pkg.Service`. */
export interface ServiceDefinition {
  readonly name: string;
  readonly fullName: string;
  readonly methods: { readonly [key: string]: MethodDefinition };
}

type Msg<C> = C extends MessageCodec<infer T> ? T : never;
type Builtin = Date | Function | Uint8Array | string | number | boolean | bigint | undefined;
/** ts-proto's DeepPartial, to the letter, so generated interfaces and ours are the same types. */
type Partial1<T> = T extends Builtin
  ? T
  : T extends globalThis.Array<infer U>
    ? globalThis.Array<Partial1<U>>
    : T extends ReadonlyArray<infer U>
      ? ReadonlyArray<Partial1<U>>
      : T extends {}
        ? { [K in keyof T]?: Partial1<T[K]> }
        : Partial<T>;

/** What a request or a reply may be given as: any subset of its fields. */
export type DeepPartial<T> = Partial1<T>;

/** Call options of our client: nice-grpc's, plus a deadline and the node to address. */
export interface NatsCallOptions extends CallOptions {
  /** When the call must be done: a Date, or milliseconds from now (as in nice-grpc). Sent to the server as `grpc-timeout`. */
  deadline?: Date | number;
  /** Address the instance with this node id instead of any instance. */
  nid?: string;
}

export type ClientMethod<M extends MethodDefinition, Ext = {}> =
  M extends MethodDefinition<infer Req, infer Res, infer RS, infer SS>
    ? RS extends false
      ? SS extends false
        ? (request: DeepPartial<Req>, options?: NatsCallOptions & Ext) => Promise<Res>
        : (request: DeepPartial<Req>, options?: NatsCallOptions & Ext) => AsyncIterable<Res>
      : SS extends false
        ? (request: AsyncIterable<DeepPartial<Req>>, options?: NatsCallOptions & Ext) => Promise<Res>
        : (request: AsyncIterable<DeepPartial<Req>>, options?: NatsCallOptions & Ext) => AsyncIterable<Res>
    : never;

/** The typed client of a service: one method per RPC, under ts-proto's lowerCamelCase key. */
export type Client<S extends ServiceDefinition, Ext = {}> = {
  [K in keyof S["methods"]]: ClientMethod<S["methods"][K], Ext>;
};

export type ServerMethod<M extends MethodDefinition, Ctx = {}> =
  M extends MethodDefinition<infer Req, infer Res, infer RS, infer SS>
    ? RS extends false
      ? SS extends false
        ? (request: Req, context: CallContext & Ctx) => Promise<DeepPartial<Res>>
        : (request: Req, context: CallContext & Ctx) => AsyncIterable<DeepPartial<Res>>
      : SS extends false
        ? (requests: AsyncIterable<Req>, context: CallContext & Ctx) => Promise<DeepPartial<Res>>
        : (requests: AsyncIterable<Req>, context: CallContext & Ctx) => AsyncIterable<DeepPartial<Res>>
    : never;

/** What a server needs to serve a service: one handler per RPC. */
export type ServiceImplementation<S extends ServiceDefinition, Ctx = {}> = {
  [K in keyof S["methods"]]: ServerMethod<S["methods"][K], Ctx>;
};

/** A method with everything the transport needs, resolved once when a service is added or a client made. */
export interface ResolvedMethod {
  /** `pkg.Service` */
  readonly service: string;
  /** The RPC's name as in the .proto ("FindNode"). */
  readonly name: string;
  /** `/pkg.Service/Method` */
  readonly path: string;
  readonly definition: MethodDefinition;
  /** For middleware: nice-grpc's method descriptor. */
  readonly descriptor: {
    path: string;
    requestStream: boolean;
    responseStream: boolean;
    options: MethodDefinition["options"];
  };
}

export function resolveMethods(def: ServiceDefinition): Map<string, ResolvedMethod> {
  const out = new Map<string, ResolvedMethod>();
  for (const [key, m] of Object.entries(def.methods)) {
    const path = `/${def.fullName}/${m.name}`;
    out.set(key, {
      service: def.fullName,
      name: m.name,
      path,
      definition: m,
      descriptor: { path, requestStream: m.requestStream, responseStream: m.responseStream, options: m.options },
    });
  }
  return out;
}
