/**
 * Clients of our transport that carry messages as bytes: a one-method service definition is
 * made at run time for each method path seen, whose request and response "types" are the
 * identity, so the gateway needs no schema and copies no message.
 */
import type { NatsConnection } from "nats";
import { createClient, type ClientOptions, type NatsCallOptions, type ServiceDefinition } from "../index.js";

/** A unary call: one request message in, one response message out. */
export type UnaryFn = (request: Uint8Array, options: NatsCallOptions) => Promise<Uint8Array>;
/** A call carried as a stream both ways: valid for every kind of method on our wire. */
export type StreamFn = (requests: AsyncIterable<Uint8Array>, options: NatsCallOptions) => AsyncIterable<Uint8Array>;

const empty = new Uint8Array(0);

/** Bytes as they are: what ts-proto's generated message types provide, for raw bytes. */
const bytesType = {
  encode: (message: Uint8Array) => ({ finish: () => message }),
  decode: (input: Uint8Array) => input,
  fromJSON: (): Uint8Array => empty,
  toJSON: (message: Uint8Array): unknown => Buffer.from(message).toString("base64"),
  fromPartial: (object: never): Uint8Array => (object as unknown as Uint8Array | undefined) ?? empty,
};

function definition(service: string, method: string, stream: boolean): ServiceDefinition {
  return {
    name: service.slice(service.lastIndexOf(".") + 1),
    fullName: service,
    methods: {
      call: {
        name: method,
        requestType: bytesType,
        requestStream: stream,
        responseType: bytesType,
        responseStream: stream,
        options: {},
      },
    },
  };
}

/** Adds to a bounded map: the oldest entry goes when it is full (paths come from clients). */
function remember<V>(map: Map<string, V>, key: string, value: V, limit: number): V {
  if (map.size >= limit) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
  return value;
}

/** Pass-through clients by method path, made on first use. */
export class PassThroughClients {
  private readonly unary = new Map<string, UnaryFn>();
  private readonly stream = new Map<string, StreamFn>();

  /**
   * @param nc the gateway's NATS connection
   * @param options client options (prefix, sizes, window)
   * @param limit method paths kept (the oldest is made again when needed)
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly options: ClientOptions,
    private readonly limit = 4096,
  ) {}

  /** The unary client of `/service/method`. */
  unaryOf(path: string, service: string, method: string): UnaryFn {
    const f = this.unary.get(path);
    if (f !== undefined) return f;
    const client = createClient(definition(service, method, false), this.nc, this.options) as unknown as {
      call: UnaryFn;
    };
    return remember(this.unary, path, client.call, this.limit);
  }

  /** The streaming client of `/service/method`. */
  streamOf(path: string, service: string, method: string): StreamFn {
    const f = this.stream.get(path);
    if (f !== undefined) return f;
    const client = createClient(definition(service, method, true), this.nc, this.options) as unknown as {
      call: StreamFn;
    };
    return remember(this.stream, path, client.call, this.limit);
  }
}
