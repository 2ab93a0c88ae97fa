/**
 * One call from the HTTP side carried over our transport: a unary call in one NATS request
 * when the method is known to be unary, else as a stream. Protocol-free: the request
 * messages come from a BodyReader and the answer goes to a CallSink (gRPC, gRPC-Web, Connect).
 */
import { isAbortError } from "abort-controller-x";
import { ClientError, Metadata, Status, type NatsCallOptions } from "../index.js";
import { FramingError } from "./framing.js";
import type { Kind, MethodKinds } from "./kinds.js";
import type { PassThroughClients } from "./passthrough.js";

/** Where the answer of a call goes, in the order header, messages, end. */
export interface CallSink {
  /**
   * Header metadata: at most once, before any message (a sink sends an empty header itself
   * before its first message otherwise). `firstBytes`: the size of the one message to follow,
   * when known (a unary call), so a sink announces compression only when it will compress.
   */
  header(md: Metadata, firstBytes?: number): void;
  /** One response message; a promise when the client must read before the next (flow control). */
  message(bytes: Uint8Array): Promise<void> | undefined;
  /** The status, exactly as the service sent it, and the trailer metadata. */
  end(code: Status, message: string, trailer: Metadata): void;
}

/** A call as the HTTP side asked for it. */
export interface GatewayCall {
  /** `/pkg.Service/Method` */
  readonly path: string;
  readonly service: string;
  readonly method: string;
  /** The node to address (from the `islb-nid` metadata), or any instance. */
  readonly nid: string | undefined;
  readonly metadata: Metadata;
  /** From `grpc-timeout` (or Connect's timeout header). */
  readonly timeoutMs: number | undefined;
  /** Aborted when the HTTP client goes away. */
  readonly signal: AbortSignal;
  /**
   * The kind the request itself says (Connect's unary form), for this call only: a client
   * never writes the shared table of kinds, so it cannot make a method unary for others.
   */
  readonly kind?: Kind;
}

/** The request messages of a call: read one by one, or the single one of a unary call. */
export interface Requests extends AsyncIterable<Uint8Array> {
  /** The one request message (later ones are dropped); undefined when there is none. */
  single(): Promise<Uint8Array | undefined>;
}

/** Requests already in hand (a local handler that decided to pass a call on). */
export function requestsOf(messages: Uint8Array[]): Requests {
  return {
    single: async () => messages[0],
    async *[Symbol.asyncIterator]() {
      yield* messages;
    },
  };
}

/** A method the gateway answers itself (health, reflection); `bridge` carries what it passes on. */
export type LocalHandler = (call: GatewayCall, requests: Requests, sink: CallSink, bridge: Bridge) => Promise<void>;

/** Calls carried, for tests and metrics. */
export interface BridgeStats {
  /** Calls sent as one NATS request. */
  unary: number;
  /** Calls carried in frames. */
  stream: number;
  /** Calls the gateway answered itself. */
  local: number;
  /** Calls in progress. */
  active: number;
}

/** The status to send for an error of a call. */
export function statusOf(e: unknown): { code: Status; message: string } {
  if (e instanceof ClientError) return { code: e.code, message: e.details };
  if (e instanceof FramingError) return { code: e.code, message: e.message };
  if (isAbortError(e)) return { code: Status.CANCELLED, message: "the call was cancelled" };
  return { code: Status.INTERNAL, message: `gateway: ${(e as Error)?.message ?? String(e)}` };
}

/** Carries calls from the HTTP side to the bus, or to a local handler. */
export class Bridge {
  readonly stats: BridgeStats = { unary: 0, stream: 0, local: 0, active: 0 };

  constructor(
    private readonly clients: PassThroughClients,
    readonly kinds: MethodKinds,
    private readonly local: ReadonlyMap<string, LocalHandler> = new Map(),
  ) {}

  /** Carries the call to its end; never throws (every failure becomes the call's status). */
  async run(call: GatewayCall, body: Requests, sink: CallSink): Promise<void> {
    this.stats.active++;
    try {
      const local = this.local.get(call.path);
      if (local !== undefined) {
        this.stats.local++;
        await local(call, body, sink, this);
      } else {
        await this.upstream(call, body, sink);
      }
    } catch (e) {
      const st = statusOf(e);
      try {
        sink.end(st.code, st.message, Metadata());
      } catch {
        /* the client is gone: nothing to tell */
      }
    } finally {
      this.stats.active--;
    }
  }

  /** Carries the call to the bus (no local handler): in one NATS request when its kind is known unary, else as a stream. */
  upstream(call: GatewayCall, body: Requests, sink: CallSink): Promise<void> {
    if ((call.kind ?? this.kinds.get(call.path, call.service)) === "unary") {
      this.stats.unary++;
      return this.unary(call, body, sink);
    }
    this.stats.stream++;
    return this.stream(call, body, sink);
  }

  private options(call: GatewayCall): NatsCallOptions {
    const o: NatsCallOptions = { metadata: call.metadata, signal: call.signal };
    if (call.timeoutMs !== undefined) o.deadline = call.timeoutMs;
    if (call.nid !== undefined) o.nid = call.nid;
    return o;
  }

  private async unary(call: GatewayCall, body: Requests, sink: CallSink): Promise<void> {
    const request = await body.single();
    if (request === undefined) return sink.end(Status.INTERNAL, `${call.path}: the request has no message`, Metadata());
    let header: Metadata | undefined;
    let trailer = Metadata();
    const o = this.options(call);
    o.onHeader = (h) => (header = h);
    o.onTrailer = (t) => (trailer = t);
    let response: Uint8Array;
    try {
      response = await this.clients.unaryOf(call.path, call.service, call.method)(request, o);
    } catch (e) {
      if (header !== undefined && header[Symbol.iterator]().next().done !== true) sink.header(header);
      const st = statusOf(e);
      return sink.end(st.code, st.message, trailer);
    }
    sink.header(header ?? Metadata(), response.length);
    const wait = sink.message(response);
    if (wait !== undefined) await wait;
    sink.end(Status.OK, "", trailer);
  }

  private async stream(call: GatewayCall, body: Requests, sink: CallSink): Promise<void> {
    let trailer = Metadata();
    const o = this.options(call);
    o.onHeader = (h) => sink.header(h);
    o.onTrailer = (t) => (trailer = t);
    try {
      for await (const r of this.clients.streamOf(call.path, call.service, call.method)(body, o)) {
        const wait = sink.message(r);
        if (wait !== undefined) await wait;
      }
    } catch (e) {
      const st = statusOf(e);
      return sink.end(st.code, st.message, trailer);
    }
    sink.end(Status.OK, "", trailer);
  }
}
