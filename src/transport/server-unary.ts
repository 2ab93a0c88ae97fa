/**
 * The server side of a unary call in one NATS request/reply: binary (content-type
 * application/grpc+proto) or JSON (proto3 JSON mapping; also any header-less JSON object).
 * The call's state and its deadline; decoding is unary-codec.ts, the reply unary-reply.ts.
 */
import type { Msg } from "nats";
import { parseTimeout } from "../deadline.js";
import { WheelDeadline } from "./deadline-wheel.js";
import { H, Metadata, readHeaders } from "../metadata.js";
import { Status, serverError, serverStatusOf, type StatusInfo } from "../status.js";
import type { ServedMethod } from "./invoke.js";
import { decodeUnaryRequest, encodeUnaryResponse } from "./unary-codec.js";
import { sendReply } from "./unary-reply.js";
import { handlerStatus, runHandler, type ContextSource } from "./server-handler.js";
import { tooBusy, type ActiveCall, type ServerCore } from "./server-core.js";

/** A unary call being served: one object per call, its own deadline. */
class UnaryCall extends WheelDeadline implements ActiveCall, ContextSource {
  private replied = false;
  /** The unary observer was told it started (so it is told when it ends). */
  observed = false;
  private deadlineMs = 0;
  private controller: AbortController | undefined;
  private aborted = false;
  private readonly started = performance.now();
  private headerMd: Metadata | undefined;
  private trailerMd: Metadata | undefined;
  /** The request metadata, when the request had headers. */
  requestMd: Metadata | undefined;

  /** Request metadata, made when the handler first touches it. */
  get metadata(): Metadata {
    return (this.requestMd ??= Metadata());
  }

  get peer(): string {
    return `nats:${this.reply}`;
  }

  /** Headers of a unary reply go with it: nothing to send ahead. */
  sendHeader(): void {}

  /** Response header metadata, made when the handler first touches it. */
  get header(): Metadata {
    return (this.headerMd ??= Metadata());
  }

  /** Response trailer metadata, made when the handler first touches it. */
  get trailer(): Metadata {
    return (this.trailerMd ??= Metadata());
  }

  constructor(
    private readonly core: ServerCore,
    private readonly method: ServedMethod,
    private readonly reply: string,
    private readonly json: boolean,
  ) {
    super();
  }

  /** Arms the call's deadline; one of 0 (grpc-timeout "0n", say) has passed: DEADLINE_EXCEEDED, the handler not run. */
  startDeadline(ms: number): void {
    if (ms <= 0) throw serverError(Status.DEADLINE_EXCEEDED, "deadline of 0 ms exceeded before the call began");
    this.deadlineMs = ms;
    this.core.deadlines.add(this, ms);
  }

  protected expired(): void {
    this.fail({ code: Status.DEADLINE_EXCEEDED, message: `deadline of ${Math.round(this.deadlineMs)} ms exceeded` });
  }

  shutdown(): void {
    this.fail({ code: Status.UNAVAILABLE, message: "server is shutting down" });
  }

  /** The handler's signal, made when first asked for (most handlers never look). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** Ends the call with an error status (once), and cancels the handler. */
  fail(status: StatusInfo): void {
    if (this.replied) return;
    this.send(status, undefined);
    this.aborted = true;
    this.controller?.abort();
  }

  succeed(response: unknown): void {
    if (this.replied) return;
    const data = encodeUnaryResponse(this.core, this.method, response, this.json);
    const max = this.core.options.maxMessageBytes;
    if (data.length > max) {
      this.send(
        {
          code: Status.RESOURCE_EXHAUSTED,
          message: `response message of ${this.method.path} is ${data.length} bytes, over the limit of ${max}`,
        },
        undefined,
      );
      return;
    }
    this.send({ code: Status.OK, message: "" }, data);
  }

  private send(status: StatusInfo, data: Uint8Array | undefined): void {
    this.replied = true;
    if (this.hasDeadline) this.cleanup();
    this.core.untrack(this);
    const ms = performance.now() - this.started;
    this.core.record(this.method.path, status.code, status.message, ms);
    if (this.observed) this.core.unaryObserver?.finished(this.method.path, status.code, ms);
    sendReply(this.core, this.reply, status, data, this.json, this.headerMd, this.trailerMd, this.method.path);
  }
}

/**
 * Serves one unary request that arrived as a single NATS message. Never throws.
 * `plain`: its headers are known to be just the binary content type (nothing to parse), and
 * `deadlineMs` the deadline read from them in place (deadline-headers.ts), when they also had one.
 */
export function serveUnary(
  core: ServerCore,
  method: ServedMethod,
  msg: Msg,
  json: boolean,
  plain = false,
  deadlineMs?: number,
): void {
  const reply = msg.reply;
  if (reply === undefined || reply === "") {
    core.options.logger.debug({ subject: msg.subject }, "unary request without a reply subject dropped");
    return;
  }
  if (core.full()) {
    sendReply(core, reply, tooBusy(core), undefined, json, undefined, undefined, method.path);
    return;
  }
  const call = new UnaryCall(core, method, reply, json);
  core.track(call);
  const max = core.options.maxMessageBytes;
  const data = msg.data;
  if (data.length > max) {
    call.fail({
      code: Status.RESOURCE_EXHAUSTED,
      message: `request message of ${method.path} is ${data.length} bytes, over the limit of ${max}`,
    });
    return;
  }
  const d = method.definition;
  if (d.requestStream || d.responseStream) {
    call.fail({
      code: Status.INVALID_ARGUMENT,
      message: `${method.path} is a streaming method: call it with the stream protocol (frames), not a single request`,
    });
    return;
  }
  let request: unknown;
  try {
    request = decodeUnaryRequest(core, method, data, json);
    if (deadlineMs !== undefined) call.startDeadline(deadlineMs);
    const h = plain ? undefined : msg.headers;
    if (h !== undefined) call.requestMd = readHeaders(h);
    const t = h?.get(H.timeout) ?? "";
    if (t !== "") {
      const ms = parseTimeout(t);
      if (ms === undefined) throw serverError(Status.INVALID_ARGUMENT, `malformed grpc-timeout ${JSON.stringify(t)}`);
      call.startDeadline(ms);
    }
  } catch (e) {
    call.fail(serverStatusOf(e));
    return;
  }
  void run(core, method, call, request);
}

/** Runs the handler (and middleware) and replies. Never rejects. */
async function run(core: ServerCore, method: ServedMethod, call: UnaryCall, request: unknown): Promise<void> {
  try {
    const observer = core.unaryObserver;
    if (observer !== undefined) {
      observer.started(method.path);
      call.observed = true;
    }
    call.succeed(await runHandler(method, core.unaryMiddleware, request, call));
  } catch (e) {
    call.fail(handlerStatus(core, method, e));
  }
}
