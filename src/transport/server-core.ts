/** What the server's call handlers need from the server, kept apart to avoid import cycles. */
import type { NatsConnection, MsgHdrs } from "nats";
import type { ServerMiddleware } from "nice-grpc-common";
import type { Logger } from "../log.js";
import { Status, type StatusInfo } from "../status.js";

/**
 * The proto3 JSON mapping of a server's messages, by method path. Without one, the JSON mode
 * uses ts-proto's toJSON/fromJSON (which writes 64-bit integers as numbers and ignores
 * unknown keys); with one (reflection/json.ts, from descriptors) it is the canonical mapping.
 */
export interface JsonCodec {
  /** Request JSON to binary; throws (with a message saying what is wrong) on invalid JSON or field values. */
  requestFromJson(path: string, json: string): Uint8Array;
  /** Response binary to canonical JSON. */
  responseToJson(path: string, bytes: Uint8Array): string;
  /** True when it knows the method. */
  knows(path: string): boolean;
}

/** Options of a server. */
export interface ServerOptions {
  /** This instance's node id: it also answers on `<prefix>.<nid>.<pkg.Service>.<Method>`. */
  nid?: string;
  /** Subject prefix, `nrpc` by default. */
  prefix?: string;
  /** Largest request or response message, in bytes (default 4 MiB, never above NATS's max_payload). */
  maxMessageBytes?: number;
  /** Bytes of request messages (each counted with 32 bytes of overhead) a native stream may have unread before the client must wait (default 1 MiB, at least 1 KiB). */
  window?: number;
  /** Ping after this many ms without sending on a native stream (default 500); the peer is dead after 3 × its own interval of silence. */
  keepaliveMs?: number;
  /** Unread request messages a nats-grpc compat call (no flow control) may queue before it fails (default 1024). */
  compatQueueLimit?: number;
  /** How long `close()` waits for calls in progress before cancelling them (default 5000 ms). */
  drainMs?: number;
  /**
   * A nats-grpc compat call (no keep-alive in that protocol) with no frame either way for this
   * long is cancelled, so a Go client that died mid-stream leaves nothing behind (default 10 minutes).
   */
  compatIdleMs?: number;
  /**
   * Calls (of every kind) the server holds at once; past it a new call is answered
   * RESOURCE_EXHAUSTED at once (default 10,000), so no peer can make it hold without bound.
   */
  maxCalls?: number;
  /**
   * A nats-grpc compat call whose client sends nothing after its Call frame for this long is
   * ended DEADLINE_EXCEEDED (default 5000 ms): an opening frame alone holds nothing for long.
   */
  compatStartMs?: number;
  /**
   * A compat call that heard nothing from its client for this long is probed (an empty message
   * to the client's reply subject, whose "no responders" answer ends the call), and again each
   * interval while the client stays silent (default 30,000 ms; 0: never). See docs/PROTOCOL.md.
   */
  compatProbeMs?: number;
  /** The canonical proto3 JSON mapping for the JSON mode (see JsonCodec). */
  json?: JsonCodec;
  logger?: Logger;
}

export interface ResolvedServerOptions {
  nid: string;
  prefix: string;
  maxMessageBytes: number;
  window: number;
  keepaliveMs: number;
  compatQueueLimit: number;
  drainMs: number;
  compatIdleMs: number;
  maxCalls: number;
  compatStartMs: number;
  compatProbeMs: number;
  json: JsonCodec | undefined;
  logger: Logger;
}

/** Calls of one method, for NATS micro discovery's STATS and for tests. */
export interface MethodStats {
  requests: number;
  errors: number;
  lastError: string;
  /** Total handling time, ms. */
  totalMs: number;
}

/** A call in progress, as the server tracks it for draining and accounting. */
export interface ActiveCall {
  /** Ends the call from the server's side (shutdown): status UNAVAILABLE to the client. */
  shutdown(): void;
}

export interface ServerCore {
  readonly nc: NatsConnection;
  readonly options: ResolvedServerOptions;
  readonly middleware: ServerMiddleware | undefined;
  /** The subject prefix of this server's per-call subjects (`<inbox prefix>.calls.<id>`). */
  readonly callInbox: string;
  /** Publishes, turning a payload over the NATS limit into a thrown RESOURCE_EXHAUSTED. */
  publish(subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }): void;
  /** Publishes in the connection's outbox (frames of calls: batched, in order); size is checked at once. */
  queue(subject: string, data: Uint8Array, opts: { reply?: string } | undefined, onError: (err: unknown) => void): void;
  track(call: ActiveCall): void;
  /** True when the server holds `maxCalls` calls: a new one is refused RESOURCE_EXHAUSTED. */
  full(): boolean;
  /** Counts a finished call of `path`: its status and how long it took. */
  record(path: string, code: number, message: string, ms: number): void;
  untrack(call: ActiveCall): void;
}

/** The status of a call refused because the server holds `maxCalls` calls. */
export function tooBusy(core: ServerCore): StatusInfo {
  return { code: Status.RESOURCE_EXHAUSTED, message: `the server holds ${core.options.maxCalls} calls, its limit: try again later` };
}
