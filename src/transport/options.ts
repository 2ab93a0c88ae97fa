/**
 * The options of servers and clients, their defaults and their clamps, in one place: the
 * options both ends of a call take (message size, window, keep-alive, compat queue) are
 * documented and resolved once, here.
 */
import type { Logger } from "../log.js";
import { DEFAULT_PREFIX, dottedProblem } from "../subjects.js";

/** The defaults of every option. */
export const DEFAULTS = Object.freeze({
  prefix: DEFAULT_PREFIX,
  maxMessageBytes: 4 * 1024 * 1024,
  window: 1024 * 1024,
  keepaliveMs: 500,
  compatQueueLimit: 1024,
  drainMs: 5000,
  compatIdleMs: 600_000,
  maxCalls: 10_000,
  compatStartMs: 5000,
  compatProbeMs: 30_000,
  compatGapMs: 20,
  maxBufferedBytes: 256 * 1024 * 1024,
  maxPeerKeepaliveMs: 15_000,
});

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

/** What both ends of a call take: the limits of what they receive and how they keep streams alive. */
export interface CallLimits {
  /** Subject prefix, `nrpc` by default. */
  prefix?: string;
  /** Largest request or response message, in bytes (default 4 MiB, never above NATS's max_payload). */
  maxMessageBytes?: number;
  /**
   * Bytes of messages (each counted with 32 bytes of overhead) a native stream may have unread
   * on this side before the peer must wait (default 1 MiB, at least 1 KiB).
   */
  window?: number;
  /** Ping after this many ms without sending on a native stream (default 500, at least 10); the peer is dead after 3 × its own interval of silence. */
  keepaliveMs?: number;
  /** Unread messages a nats-grpc compat call (no flow control) may queue on this side before it fails (default 1024). */
  compatQueueLimit?: number;
}

/** Options of a server. */
export interface ServerOptions extends CallLimits {
  /** This instance's node id: it also answers on `<prefix>.<nid>.<pkg.Service>.<Method>`. */
  nid?: string;
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
  /**
   * Bytes of messages all the server's calls together may hold waiting (default 256 MiB):
   * requests unread or in a handler's hand, and responses waiting for the client's credit.
   * Each call's window bounds one peer, this bounds them all. A message that would pass it
   * ends its call RESOURCE_EXHAUSTED.
   */
  maxBufferedBytes?: number;
  /**
   * The longest keep-alive interval a native client may declare (default 15,000 ms): one that
   * declares none (0) or a longer one is held to this, so a client silent for three of these
   * is gone whatever it declared.
   */
  maxPeerKeepaliveMs?: number;
  /** The canonical proto3 JSON mapping for the JSON mode (see JsonCodec). */
  json?: JsonCodec;
  /** Where the server logs (default: warnings and errors to stderr, see log.ts). */
  logger?: Logger;
}

/** Options of a client. */
export interface ClientOptions extends CallLimits {
  /** Address this node's instance by default (a call's `nid` option overrides it). */
  nid?: string;
  /** `native` (default), or `nats-grpc` to talk to servers built on the Go library. */
  wire?: "native" | "nats-grpc";
  /**
   * Compat mode: pause between client-stream messages and before the half-close, since a Go
   * server handles each frame on its own goroutine and may reorder frames sent back to back
   * (default 20 ms; 0: no pause).
   */
  compatGapMs?: number;
  /** This caller's node id, sent in the Call frame of streams. */
  callerNid?: string;
  /**
   * Unary requests wait in the connection's outbox until the current turn of the event loop
   * ends, as stream frames do, so requests started by separate events (a gateway's HTTP/2
   * streams, each its own callback) leave in one socket write instead of one each (default
   * false: each request is handed to nats.js at once).
   */
  batchUnary?: boolean;
}

/** CallLimits with every default applied and clamped. */
export interface ResolvedLimits {
  prefix: string;
  maxMessageBytes: number;
  window: number;
  keepaliveMs: number;
  compatQueueLimit: number;
}

/** ServerOptions with every default applied and clamped (what a listening server uses). */
export interface ResolvedServerOptions extends ResolvedLimits {
  nid: string;
  drainMs: number;
  compatIdleMs: number;
  maxCalls: number;
  compatStartMs: number;
  compatProbeMs: number;
  maxBufferedBytes: number;
  maxPeerKeepaliveMs: number;
  json: JsonCodec | undefined;
  logger: Logger;
}

/** ClientOptions with every default applied and clamped. */
export interface ResolvedClientOptions extends ResolvedLimits {
  nid: string;
  wire: "native" | "nats-grpc";
  compatGapMs: number;
  callerNid: string;
  batchUnary: boolean;
}

/** Why the subject prefix cannot be used, or undefined. */
export function prefixProblem(o: CallLimits): string | undefined {
  return dottedProblem("subject prefix", o.prefix ?? DEFAULTS.prefix);
}

/** The shared options, defaulted and clamped; `maxPayload` is the NATS server's max_payload. */
export function resolveLimits(o: CallLimits, maxPayload: number = DEFAULTS.maxMessageBytes): ResolvedLimits {
  return {
    prefix: o.prefix ?? DEFAULTS.prefix,
    maxMessageBytes: Math.min(o.maxMessageBytes ?? DEFAULTS.maxMessageBytes, maxPayload),
    window: Math.max(1024, o.window ?? DEFAULTS.window),
    keepaliveMs: Math.max(10, o.keepaliveMs ?? DEFAULTS.keepaliveMs),
    compatQueueLimit: Math.max(1, o.compatQueueLimit ?? DEFAULTS.compatQueueLimit),
  };
}

/** A server's options, defaulted and clamped. */
export function resolveServerOptions(
  o: ServerOptions,
  maxPayload: number | undefined,
  defaultLogger: Logger,
): ResolvedServerOptions {
  return {
    ...resolveLimits(o, maxPayload),
    nid: o.nid ?? "",
    drainMs: o.drainMs ?? DEFAULTS.drainMs,
    compatIdleMs: Math.max(10, o.compatIdleMs ?? DEFAULTS.compatIdleMs),
    maxCalls: Math.max(1, o.maxCalls ?? DEFAULTS.maxCalls),
    compatStartMs: Math.max(10, o.compatStartMs ?? DEFAULTS.compatStartMs),
    compatProbeMs: o.compatProbeMs === 0 ? 0 : Math.max(10, o.compatProbeMs ?? DEFAULTS.compatProbeMs),
    maxBufferedBytes: Math.max(1024, o.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes),
    maxPeerKeepaliveMs: Math.max(10, o.maxPeerKeepaliveMs ?? DEFAULTS.maxPeerKeepaliveMs),
    json: o.json,
    logger: o.logger ?? defaultLogger,
  };
}

/** A client's options, defaulted and clamped. */
export function resolveClientOptions(o: ClientOptions, maxPayload: number | undefined): ResolvedClientOptions {
  return {
    ...resolveLimits(o, maxPayload),
    nid: o.nid ?? "",
    wire: o.wire ?? "native",
    compatGapMs: Math.max(0, o.compatGapMs ?? DEFAULTS.compatGapMs),
    callerNid: o.callerNid ?? "",
    batchUnary: o.batchUnary === true,
  };
}
