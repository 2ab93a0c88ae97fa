/**
 * A gRPC server over NATS: serves ts-proto service definitions on the subjects of
 * subjects.ts, answering unary requests in one message (binary or JSON), calls in nats-grpc
 * frames (Go compat) and native streams. Never throws on what a client sends.
 */
import { nuid, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "nats";
import { composeServerMiddleware, type CallContext, type ServerMiddleware } from "nice-grpc-common";
import { defaultLogger } from "../log.js";
import { isPlainRequest } from "../metadata.js";
import { Status, ServerError, type StatusInfo } from "../status.js";
import {
  DEFAULT_PREFIX,
  callInboxPrefix,
  dottedProblem,
  nodeQueue,
  nodeWildcard,
  serviceQueue,
  serviceWildcard,
  splitServiceMethod,
  tokenProblem,
} from "../subjects.js";
import { looksLikeJson } from "../wire/frames.js";
import { rawSubject } from "../wire/raw-msg.js";
import { CallTable } from "./call-table.js";
import { MethodTable } from "./method-table.js";
import { connectionInbox } from "./mux.js";
import { resolveMethods, type ServiceDefinition, type ServiceImplementation } from "./definition.js";
import type { HandlerFn, ServedMethod } from "./invoke.js";
import {
  createServerCore,
  tooBusy,
  type ActiveCall,
  type MethodStats,
  type ServerCore,
  type UnaryObserver,
} from "./server-core.js";
import { prefixProblem, resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from "./options.js";
import { serveUnary } from "./server-unary.js";
import { plainDeadlineMs } from "./deadline-headers.js";
import { unaryEncoding } from "./unary-codec.js";
import { sendReply } from "./unary-reply.js";

export type { MethodStats, ServerOptions };

interface ServiceEntry {
  readonly fullName: string;
  /** Methods by their proto name ("FindNode"). */
  readonly methods: Map<string, ServedMethod>;
  /** The same methods, found from a subject's bytes. */
  readonly table: MethodTable;
}

/** Counts for tests and metrics. */
export interface ServerStats {
  /** Calls in progress, every kind. */
  activeCalls: number;
  /** Frame calls (compat and native) in the call tables. */
  frameCalls: number;
  /** NATS subscriptions the server holds. */
  subscriptions: number;
  /** Bytes of messages its calls hold waiting (bounded by `maxBufferedBytes`). */
  bufferedBytes: number;
}

export class NatsServer {
  private readonly services = new Map<string, ServiceEntry>();
  private middleware: ServerMiddleware | undefined;
  private unaryMiddleware: ServerMiddleware | undefined;
  private unaryObserver: UnaryObserver | undefined;
  private core: (ServerCore & { options: ResolvedServerOptions }) | undefined;
  private subs: Subscription[] = [];
  private readonly active = new Set<ActiveCall>();
  private calls: CallTable | undefined;
  private closing = false;
  private readonly methodStats = new Map<string, MethodStats>();
  /** When the server started listening. */
  startedAt = new Date();

  constructor(private readonly options: ServerOptions = {}) {
    const p = prefixProblem(options) ?? (options.nid ? tokenProblem("node id", options.nid) : undefined);
    if (p !== undefined) throw new ServerError(Status.INVALID_ARGUMENT, p);
  }

  /**
   * Adds a middleware (nice-grpc's ServerMiddleware); later ones run inside earlier ones.
   * `unary: false`: not for unary calls served from a single NATS message (the common call,
   * which then keeps the fast path when no other middleware is added), only for streams and
   * for calls that came as frames; pair it with `observeUnary` to see those calls. Call
   * before `listen`.
   */
  use(middleware: ServerMiddleware<any, any>, options: { unary?: boolean } = {}): this {
    const compose = (a: ServerMiddleware | undefined): ServerMiddleware =>
      a === undefined ? middleware : composeServerMiddleware(a, middleware);
    this.middleware = compose(this.middleware);
    if (options.unary !== false) this.unaryMiddleware = compose(this.unaryMiddleware);
    return this;
  }

  /** Tells `observer` of every unary call served from a single NATS message (see UnaryObserver). One; call before `listen`. */
  observeUnary(observer: UnaryObserver): this {
    this.unaryObserver = observer;
    return this;
  }

  /**
   * Serves a service. The implementation has one handler per method, each taking nice-grpc's
   * `CallContext` (as nice-grpc's `ServiceImplementation<S, CallContext>`): a missing method, or a
   * handler that uses its context wrongly, does not compile. Call before `listen`.
   */
  add<S extends ServiceDefinition>(definition: S, implementation: ServiceImplementation<S, CallContext>): this {
    if (this.core !== undefined) throw new Error("add services before listen()");
    const p = dottedProblem("service name", definition.fullName);
    if (p !== undefined) throw new Error(p);
    const methods = new Map<string, ServedMethod>();
    for (const [key, m] of resolveMethods(definition)) {
      const handler = (implementation as Record<string, HandlerFn | undefined>)[key];
      if (typeof handler !== "function") continue; // not there at run time (a cast): UNIMPLEMENTED
      methods.set(m.name, { ...m, handler: handler.bind(implementation) });
    }
    this.services.set(definition.fullName, {
      fullName: definition.fullName,
      methods,
      table: new MethodTable(methods.values()),
    });
    return this;
  }

  /** The services served, by full name. */
  get serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** Subscribes on `nc` and starts answering. Resolves once the server has the subscriptions. */
  async listen(nc: NatsConnection): Promise<void> {
    if (this.core !== undefined) throw new Error("the server is already listening");
    const options = resolveServerOptions(this.options, nc.info?.max_payload, defaultLogger);
    if (options.nid !== "") {
      for (const name of this.services.keys()) {
        if (name.split(".")[0] === options.nid) {
          throw new Error(
            `node id ${JSON.stringify(options.nid)} is the first part of the service name ${name}: its subjects would collide`,
          );
        }
      }
    }
    const callInbox = callInboxPrefix(connectionInbox(nc), nuid.next());
    const active = this.active;
    this.core = createServerCore(nc, options, this.middleware, callInbox, {
      active,
      record: (path, code, message, ms) => this.record(path, code, message, ms),
      unaryMiddleware: this.unaryMiddleware,
      unaryObserver: this.unaryObserver,
    });
    const calls = (this.calls = new CallTable(this.core, active));
    const prefix = options.prefix;
    for (const svc of this.services.values()) {
      const skip = `${prefix}.${svc.fullName}.`.length;
      this.subs.push(
        nc.subscribe(serviceWildcard(prefix, svc.fullName), {
          queue: serviceQueue(svc.fullName),
          callback: (err, msg) => {
            if (err !== null) return;
            // The common request: a method of this service, binary, no metadata. Found from the
            // subject's bytes and served without decoding the subject or parsing headers.
            const raw = rawSubject(msg);
            const method = raw === undefined ? undefined : svc.table.find(raw, skip);
            if (method !== undefined && !this.closing) {
              if (isPlainRequest(msg)) return this.onPlain(method, msg);
              const ms = plainDeadlineMs(msg);
              if (ms !== undefined) return this.onPlain(method, msg, ms);
            }
            this.onMessage(svc, svc.fullName, msg.subject.slice(skip), msg);
          },
        }),
      );
    }
    if (options.nid !== "") {
      const skip = `${prefix}.${options.nid}.`.length;
      this.subs.push(
        nc.subscribe(nodeWildcard(prefix, options.nid), {
          queue: nodeQueue(prefix, options.nid),
          callback: (err, msg) => {
            if (err !== null) return;
            const sm = splitServiceMethod(msg.subject.slice(skip));
            if (sm === undefined)
              return this.replyError(msg, {
                code: Status.UNIMPLEMENTED,
                message: `no method in subject ${msg.subject}`,
              });
            this.onMessage(this.services.get(sm.service), sm.service, sm.method, msg);
          },
        }),
      );
    }
    const skip = callInbox.length + 1;
    this.subs.push(
      nc.subscribe(`${callInbox}.*`, {
        callback: (err, msg) => {
          if (err !== null) return;
          try {
            calls.onCallMessage(msg.subject.slice(skip), msg);
          } catch (e) {
            this.core?.options.logger.error({ err: e, subject: msg.subject }, "frame handling failed");
          }
        },
      }),
    );
    this.startedAt = new Date();
    await nc.flush();
  }

  private record(path: string, code: number, message: string, ms: number): void {
    let st = this.methodStats.get(path);
    if (st === undefined) this.methodStats.set(path, (st = { requests: 0, errors: 0, lastError: "", totalMs: 0 }));
    st.requests++;
    st.totalMs += ms;
    if (code !== Status.OK) {
      st.errors++;
      st.lastError = `${code}: ${message}`;
    }
  }

  /** Calls finished so far, by method path. */
  callStats(): ReadonlyMap<string, MethodStats> {
    return this.methodStats;
  }

  /** The methods served: path, service, name, kind. */
  methods(): Array<{ path: string; service: string; name: string; requestStream: boolean; responseStream: boolean }> {
    const out = [];
    for (const svc of this.services.values()) {
      for (const m of svc.methods.values())
        out.push({
          path: m.path,
          service: m.service,
          name: m.name,
          requestStream: m.definition.requestStream,
          responseStream: m.definition.responseStream,
        });
    }
    return out;
  }

  /** The options in force once listening (prefix, nid, limits). */
  get resolvedOptions(): ResolvedServerOptions | undefined {
    return this.core?.options;
  }

  /** Counts of what the server holds now. */
  stats(): ServerStats {
    return {
      activeCalls: this.active.size,
      frameCalls: this.calls?.size ?? 0,
      subscriptions: this.subs.length,
      bufferedBytes: this.core?.buffered.used ?? 0,
    };
  }

  /**
   * Stops taking calls, lets the calls in progress finish for up to `drainMs`, then ends the
   * rest with UNAVAILABLE and drops the subscriptions.
   */
  async close(): Promise<void> {
    const core = this.core;
    if (core === undefined || this.closing) return;
    this.closing = true;
    const [callSub] = this.subs.splice(-1, 1);
    await Promise.all(this.subs.map((s) => (core.nc.isClosed() ? undefined : s.drain().catch(() => undefined))));
    const until = Date.now() + core.options.drainMs;
    while (this.active.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    for (const call of [...this.active]) call.shutdown();
    // Their End frames go now, not at the end of the turn, when the connection may be draining.
    if (!core.nc.isClosed()) core.flush();
    this.calls?.close();
    if (!core.nc.isClosed()) callSub?.unsubscribe();
    this.subs = [];
  }

  private onPlain(method: ServedMethod, msg: Msg, deadlineMs?: number): void {
    try {
      serveUnary(this.core as ServerCore, method, msg, false, true, deadlineMs);
    } catch (e) {
      this.core?.options.logger.error({ err: e, method: method.path }, "dispatch failed");
    }
  }

  private onMessage(svc: ServiceEntry | undefined, serviceName: string, methodName: string, msg: Msg): void {
    try {
      this.dispatch(svc, serviceName, methodName, msg);
    } catch (e) {
      this.core?.options.logger.error({ err: e, subject: msg.subject }, "dispatch failed");
    }
  }

  private dispatch(svc: ServiceEntry | undefined, serviceName: string, methodName: string, msg: Msg): void {
    const core = this.core as ServerCore;
    const method = svc?.methods.get(methodName);
    if (method !== undefined && !this.closing) {
      if (isPlainRequest(msg)) return serveUnary(core, method, msg, false, true);
      const ms = plainDeadlineMs(msg);
      if (ms !== undefined) return serveUnary(core, method, msg, false, true, ms);
    }
    const h = msg.headers;
    const json = looksLikeJson(msg.data);
    if (h !== undefined || json) {
      const enc = unaryEncoding(h, json);
      if (this.closing)
        return this.replyError(msg, { code: Status.UNAVAILABLE, message: "server is shutting down" }, enc === "json");
      if (method === undefined)
        return this.replyError(msg, unimplemented(svc, serviceName, methodName), enc === "json");
      if (enc === undefined) {
        return this.replyError(msg, {
          code: Status.INVALID_ARGUMENT,
          message: `unsupported content-type ${JSON.stringify(h?.get("content-type"))}`,
        });
      }
      return serveUnary(core, method, msg, enc === "json");
    }
    (this.calls as CallTable).onMethodFrame(msg, method, () => {
      if (this.closing) return { code: Status.UNAVAILABLE, message: "server is shutting down" };
      if (method === undefined) return unimplemented(svc, serviceName, methodName);
      return core.full() ? tooBusy(core) : undefined;
    });
  }

  private replyError(msg: Msg, status: StatusInfo, json = true): void {
    if (msg.reply === undefined || msg.reply === "" || this.core === undefined) return;
    sendReply(this.core, msg.reply, status, undefined, json);
  }
}

function unimplemented(svc: ServiceEntry | undefined, serviceName: string, methodName: string): StatusInfo {
  if (svc === undefined) return { code: Status.UNIMPLEMENTED, message: `unknown service ${serviceName}` };
  const known = [...svc.methods.keys()].join(", ");
  return {
    code: Status.UNIMPLEMENTED,
    message: `unknown method ${methodName} of service ${serviceName} (it has: ${known || "none"})`,
  };
}

/** A server for the given options; add services, then `listen(nc)`. */
export function createServer(options?: ServerOptions): NatsServer {
  return new NatsServer(options);
}
