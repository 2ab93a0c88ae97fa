/**
 * What every kind of server call shares (after nice-grpc's createCallContext): the handler's
 * CallContext, made from its call, and the one runner that calls a handler, through the
 * server's middleware when there is any and directly when there is none (the fast path), and
 * turns what it threw into the status the client gets.
 */
import type { CallContext, ServerMiddleware } from "nice-grpc-common";
import type { Metadata } from "../metadata.js";
import { serverStatusOf, type StatusInfo } from "../status.js";
import { invoke, type ServedMethod } from "./invoke.js";
import type { ServerCore } from "./server-core.js";

/** What a handler's context reads from its call (each member may be made when first read). */
export interface ContextSource {
  readonly metadata: Metadata;
  readonly peer: string;
  readonly header: Metadata;
  readonly trailer: Metadata;
  readonly signal: AbortSignal;
  sendHeader(): void;
}

/**
 * The handler's CallContext when no middleware runs: nice-grpc's, each member read from the
 * call when the handler reads it. A class, so a call makes one small object with the getters
 * on its prototype: an object literal with getters took V8's slow path (about 0.9 µs a call,
 * most of it making the object) where this takes nanoseconds. Its members are not own
 * properties, so `{...context}` would copy none of them: middleware, whose idiom is
 * `call.next(request, {...context, extra})`, gets `spreadableContext` instead.
 */
class LazyCallContext implements CallContext {
  constructor(private readonly call: ContextSource) {}
  get metadata(): Metadata {
    return this.call.metadata;
  }
  get peer(): string {
    return this.call.peer;
  }
  get header(): Metadata {
    return this.call.header;
  }
  get trailer(): Metadata {
    return this.call.trailer;
  }
  get signal(): AbortSignal {
    return this.call.signal;
  }
  /** A function of its own when read, so that `const { sendHeader } = context` works too. */
  get sendHeader(): () => void {
    const call = this.call;
    return () => call.sendHeader();
  }
}

/** The CallContext middleware gets: each member an own property, so spreading it copies them (read from the call). */
function spreadableContext(call: ContextSource): CallContext {
  return {
    get metadata() {
      return call.metadata;
    },
    get peer() {
      return call.peer;
    },
    get header() {
      return call.header;
    },
    sendHeader: () => call.sendHeader(),
    get trailer() {
      return call.trailer;
    },
    get signal() {
      return call.signal;
    },
  };
}

/** Sends one response message: undefined when it went at once, else the wait for credit. */
export type SendResponse = (response: unknown) => Promise<void> | undefined;

/**
 * Runs the handler of `method`, with a CallContext read from `call`. A single-response method
 * resolves to its response; a streaming one hands each response to `send` (waiting when it
 * says to) and resolves undefined at its end, or as soon as `stopped()` says the call is
 * over. Rejects with what the handler threw.
 */
export function runHandler(
  method: ServedMethod,
  middleware: ServerMiddleware | undefined,
  request: unknown,
  call: ContextSource,
  send?: SendResponse,
  stopped: () => boolean = never,
): Promise<unknown> {
  const streaming = method.definition.responseStream;
  if (middleware === undefined) {
    // The fast path: the handler itself, with no generator around it.
    try {
      const r: unknown = method.handler(request, new LazyCallContext(call));
      return streaming ? pump(r as AsyncIterable<unknown>, send, stopped) : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return viaMiddleware(invoke(method, middleware, request, spreadableContext(call)), method, send, stopped);
}

function never(): boolean {
  return false;
}

async function pump(
  responses: AsyncIterable<unknown>,
  send: SendResponse | undefined,
  stopped: () => boolean,
): Promise<undefined> {
  for await (const r of responses) {
    if (stopped()) return undefined;
    const wait = send?.(r);
    if (wait !== undefined) await wait;
  }
  return undefined;
}

async function viaMiddleware(
  gen: AsyncGenerator<unknown, unknown, undefined>,
  method: ServedMethod,
  send: SendResponse | undefined,
  stopped: () => boolean,
): Promise<unknown> {
  const streaming = method.definition.responseStream;
  let finished = false;
  try {
    for (;;) {
      const r = await gen.next();
      if (stopped()) return undefined;
      if (r.done === true) {
        finished = true;
        return streaming ? undefined : r.value;
      }
      if (!streaming) throw new Error(`a middleware yielded a message for ${method.path}, which has a single response`);
      const wait = send?.(r.value);
      if (wait !== undefined) await wait;
    }
  } finally {
    // Stopped, or a wait for credit failed (the call was cancelled, expired or ended): the
    // handler's own `finally` runs now (a Watch unsubscribes), as `for await` does for `pump`.
    if (!finished) await gen.return(undefined).catch(() => undefined);
  }
}

/**
 * The status for what a handler threw: a ServerError's own, CANCELLED for an abort, UNKNOWN
 * with a generic message for anything else, which is logged (never sent: it may hold internals).
 */
export function handlerStatus(core: ServerCore, method: ServedMethod, err: unknown): StatusInfo {
  const st = serverStatusOf(err);
  if (st.unexpected) {
    try {
      core.options.logger.error({ err, method: method.path }, "handler threw");
    } catch {
      // a logger that throws must not leave the call unanswered
    }
  }
  return { code: st.code, message: st.message };
}
