/**
 * What the server's call handlers need from the server (kept apart from server.ts to avoid
 * import cycles), and how it is made.
 */
import type { NatsConnection, MsgHdrs } from "nats";
import type { ServerMiddleware } from "nice-grpc-common";
import { Status, ServerError, type StatusInfo } from "../status.js";
import type { ResolvedServerOptions } from "./options.js";
import { outboxFor } from "./outbox.js";
import { DeadlineWheel } from "./deadline-wheel.js";
import { ByteBudget } from "./flow.js";

export type { JsonCodec, ResolvedServerOptions, ServerOptions } from "./options.js";

/** Calls of one method, for NATS micro discovery's STATS and for tests. */
export interface MethodStats {
  requests: number;
  errors: number;
  lastError: string;
  /** Total handling time, ms. */
  totalMs: number;
}

/**
 * Told of every unary call served from a single NATS message (the fast path): when its request
 * was read and its handler is about to run, and when it ended (after a `started` only). For
 * metrics that cost a few increments a call, where a middleware would take every call off
 * the fast path (see NatsServer.observeUnary).
 */
export interface UnaryObserver {
  started(path: string): void;
  /** `ms`: from the request's arrival to the reply. */
  finished(path: string, code: number, ms: number): void;
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
  /** The middleware unary calls served from a single message run through (those not added with `unary: false`). */
  readonly unaryMiddleware: ServerMiddleware | undefined;
  readonly unaryObserver: UnaryObserver | undefined;
  /** The subject prefix of this server's per-call subjects (`<inbox prefix>.calls.<id>`). */
  readonly callInbox: string;
  /** Publishes, turning a payload over the NATS limit into a thrown RESOURCE_EXHAUSTED. */
  publish(subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }): void;
  /** Publishes in the connection's outbox (frames of calls: batched, in order); size is checked at once. */
  queue(subject: string, data: Uint8Array, opts: { reply?: string } | undefined, onError: (err: unknown) => void): void;
  /** Publishes what the outbox holds now (a stop sends its last frames before the connection drains). */
  flush(): void;
  track(call: ActiveCall): void;
  /** The server's wheel of unary-call deadlines. */
  readonly deadlines: DeadlineWheel;
  /** What all the server's calls hold waiting, in bytes (bounded by `maxBufferedBytes`). */
  readonly buffered: ByteBudget;
  /** True when the server holds `maxCalls` calls: a new one is refused RESOURCE_EXHAUSTED. */
  full(): boolean;
  /** Counts a finished call of `path`: its status and how long it took. */
  record(path: string, code: number, message: string, ms: number): void;
  untrack(call: ActiveCall): void;
}

/** The status of a call refused because the server holds `maxCalls` calls. */
export function tooBusy(core: ServerCore): StatusInfo {
  return {
    code: Status.RESOURCE_EXHAUSTED,
    message: `the server holds ${core.options.maxCalls} calls, its limit: try again later`,
  };
}

/** What the server keeps that its core reports to. */
export interface CoreHooks {
  /** Calls in progress (every kind). */
  readonly active: Set<ActiveCall>;
  /** Counts a finished call (see ServerCore.record). */
  record(path: string, code: number, message: string, ms: number): void;
  readonly unaryMiddleware: ServerMiddleware | undefined;
  readonly unaryObserver: UnaryObserver | undefined;
}

/**
 * The core of a server listening on `nc`: its publishing (sizes checked against the NATS
 * server's max_payload, NATS's refusals turned into RESOURCE_EXHAUSTED) and its accounting.
 */
export function createServerCore(
  nc: NatsConnection,
  options: ResolvedServerOptions,
  middleware: ServerMiddleware | undefined,
  callInbox: string,
  hooks: CoreHooks,
): ServerCore {
  const maxPayload = nc.info?.max_payload ?? options.maxMessageBytes;
  const outbox = outboxFor(nc);
  const active = hooks.active;
  const tooLarge = (n: number): ServerError =>
    new ServerError(Status.RESOURCE_EXHAUSTED, `message of ${n} bytes is over the NATS max_payload of ${maxPayload}`);
  return {
    nc,
    options,
    middleware,
    unaryMiddleware: hooks.unaryMiddleware,
    unaryObserver: hooks.unaryObserver,
    callInbox,
    publish(subject, data, opts) {
      if (data.length > maxPayload) throw tooLarge(data.length);
      try {
        nc.publish(subject, data, opts);
      } catch (e) {
        if ((e as { code?: string }).code === "MAX_PAYLOAD_EXCEEDED") {
          throw new ServerError(
            Status.RESOURCE_EXHAUSTED,
            `message of ${data.length} bytes and its headers are over the NATS max_payload of ${maxPayload}`,
          );
        }
        throw e;
      }
    },
    queue(subject, data, opts, onError) {
      if (data.length > maxPayload) throw tooLarge(data.length);
      outbox.publish(subject, data, opts, onError);
    },
    flush: () => outbox.flush(),
    record: hooks.record,
    deadlines: new DeadlineWheel(),
    buffered: new ByteBudget(options.maxBufferedBytes),
    track: (call) => void active.add(call),
    full: () => active.size >= options.maxCalls,
    untrack: (call) => void active.delete(call),
  };
}
