/** What the client's call code needs, kept apart from client.ts to avoid import cycles. */
import type { NatsConnection, MsgHdrs } from "nats";
import { Status, clientError } from "../status.js";
import type { InboxMux } from "./mux.js";

/** Options of a client. */
export interface ClientOptions {
  /** Subject prefix, `nrpc` by default. */
  prefix?: string;
  /** Address this node's instance by default (a call's `nid` option overrides it). */
  nid?: string;
  /** `native` (default), or `nats-grpc` to talk to servers built on the Go library. */
  wire?: "native" | "nats-grpc";
  /** Largest request or response message, in bytes (default 4 MiB, never above NATS's max_payload). */
  maxMessageBytes?: number;
  /** Bytes of response messages (each counted with 32 bytes of overhead) a native stream may have unread before the server must wait (default 1 MiB, at least 1 KiB). */
  window?: number;
  /** Ping after this many ms without sending on a native stream (default 500). */
  keepaliveMs?: number;
  /** Unread response messages a compat stream may queue before it fails (default 1024). */
  compatQueueLimit?: number;
  /**
   * Compat mode: pause between client-stream messages and before the half-close, since a Go
   * server handles each frame on its own goroutine and may reorder frames sent back to back
   * (default 20 ms; 0: no pause).
   */
  compatGapMs?: number;
  /** This caller's node id, sent in the Call frame of streams. */
  callerNid?: string;
}

export interface ResolvedClientOptions {
  prefix: string;
  nid: string;
  wire: "native" | "nats-grpc";
  maxMessageBytes: number;
  window: number;
  keepaliveMs: number;
  compatQueueLimit: number;
  compatGapMs: number;
  callerNid: string;
}

export interface ClientCore {
  readonly nc: NatsConnection;
  readonly mux: InboxMux;
  readonly options: ResolvedClientOptions;
  /** Publishes; maps NATS's own refusals to status errors of the call `path`. */
  publish(path: string, subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }): void;
  /** Publishes in the connection's outbox (frames of calls: batched, in order); size is checked at once. */
  queue(path: string, subject: string, data: Uint8Array, opts: { reply?: string }, onError: (err: unknown) => void): void;
  /** Publishes what the outbox holds now (before a frame that must leave at once). */
  flush(): void;
}

export { clientError };

/** Publishes for a call, turning NATS's errors into the call's status errors. */
export function publishFor(nc: NatsConnection, maxPayload: number, path: string, subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }): void {
  if (data.length > maxPayload) throw clientError(path, Status.RESOURCE_EXHAUSTED, `message of ${data.length} bytes is over the NATS max_payload of ${maxPayload}`);
  try {
    nc.publish(subject, data, opts);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "MAX_PAYLOAD_EXCEEDED") throw clientError(path, Status.RESOURCE_EXHAUSTED, `message of ${data.length} bytes and its headers are over the NATS max_payload of ${maxPayload}`);
    if (code === "CONNECTION_CLOSED" || code === "CONNECTION_DRAINING") throw clientError(path, Status.UNAVAILABLE, `the NATS connection is closed (${code})`);
    throw clientError(path, Status.INTERNAL, `cannot publish to ${subject}: ${(e as Error).message}`, e);
  }
}
