/**
 * The server side of a call carried in frames: the Go nats-grpc protocol (compat) and our
 * native stream protocol, which is the same framing plus an Accept from a per-call subject,
 * credit-based flow control, keep-alive pings and a deadline (docs/PROTOCOL.md).
 */
import { AbortError } from "abort-controller-x";
import { Metadata, fromFrameMetadata, isEmpty, toFrameMetadata } from "../metadata.js";
import { Status, serverError, type StatusInfo } from "../status.js";
import { createDeadline, type DeadlineTimer } from "../deadline.js";
import { encodeMessageFrame } from "../wire/encode.js";
import { encodeResponse, frameStatus, type Request, type Response } from "../wire/frames.js";
import { decodeProto } from "../wire/reader.js";
import { Credit, Grants, MessageQueue, messageCost } from "./flow.js";
import type { ServedMethod } from "./invoke.js";
import { handlerStatus, runHandler, type ContextSource } from "./server-handler.js";
import type { ActiveCall, ServerCore } from "./server-core.js";

const EMPTY = new Uint8Array(0);

type Native = NonNullable<NonNullable<Request["call"]>["native"]>;

/** One call carried in frames. Frames are handled synchronously and in arrival order. */
export class ServerFrameCall implements ActiveCall, ContextSource {
  private readonly abort = new AbortController();
  readonly header = Metadata();
  readonly trailer = Metadata();
  private headerSent = false;
  private done = false;
  private started = false;
  private readonly requests: MessageQueue<unknown> | undefined;
  private readonly credit: Credit | undefined;
  private deadline: DeadlineTimer | undefined;
  private readonly startedAt = performance.now();
  /** When a frame last came from the client (native calls: keep-alive). */
  lastReceived = Date.now();
  /** When a frame last went to the client. */
  lastSent = Date.now();
  /** The client's keep-alive interval: silence for 3 × this means the client is gone. */
  readonly peerKeepaliveMs: number;

  /** When the Call arrived. */
  readonly openedAt = Date.now();
  /** True until the client sent a frame after its Call (a compat call that stays so is dropped: compatStartMs). */
  awaitingFirst = true;
  /** When the server last probed a silent compat client (see `probe`). */
  lastProbe = 0;

  /**
   * @param id the call's unguessable token: the last token of its per-call subject `<callInbox>.<id>`.
   * @param replyTo the client's reply subject: every frame of the call must come with it (the peer binding).
   * @param subject the subject of the Call frame (compat frames of the call must arrive on it too).
   */
  constructor(
    private readonly core: ServerCore,
    private readonly method: ServedMethod,
    readonly id: string,
    readonly replyTo: string,
    readonly subject: string,
    private readonly native: Native | undefined,
    readonly metadata: Metadata,
    private readonly onDone: (call: ServerFrameCall) => void,
  ) {
    const o = core.options;
    // A client that declares no keep-alive (0) or a longer one than the server allows is held to
    // the server's longest: silence for three of those ends the call whatever it declared.
    const ka = native?.keepaliveMs ?? 0;
    this.peerKeepaliveMs = native === undefined ? 0 : ka > 0 && ka <= o.maxPeerKeepaliveMs ? ka : o.maxPeerKeepaliveMs;
    if (method.definition.requestStream) {
      if (native !== undefined) {
        const grants = new Grants(o.window, (credits) => this.sendControl({ window: { credits } }));
        this.requests = new MessageQueue(
          o.window + messageCost(o.maxMessageBytes),
          (cost) => grants.onRead(cost),
          undefined,
          core.buffered,
        );
      } else {
        this.requests = new MessageQueue(o.compatQueueLimit, undefined, undefined, core.buffered);
      }
    }
    if (native !== undefined) {
      this.credit = new Credit(native.window > 0 ? native.window : 1);
      this.sendFrame({ accept: { window: o.window, keepaliveMs: o.keepaliveMs, nid: o.nid } }, this.callSubject);
      const t = Number(native.timeoutMs);
      if (t > 0)
        this.deadline = createDeadline(t, () =>
          this.end({ code: Status.DEADLINE_EXCEEDED, message: `deadline of ${t} ms exceeded` }),
        );
    }
    if (method.definition.requestStream) this.start(this.requests);
  }

  /** True once the call ended. */
  get closed(): boolean {
    return this.done;
  }

  get isNative(): boolean {
    return this.native !== undefined;
  }

  /** The call's own subject: native peers send their frames there; compat probes get their answer there. */
  get callSubject(): string {
    return `${this.core.callInbox}.${this.id}`;
  }

  /** True while a native call of a single-request method has not had its request (see CallTable's start limit). */
  get awaitingRequest(): boolean {
    return !this.started && this.requests === undefined && !this.done;
  }

  /** Handles one frame from the client. */
  onFrame(f: Request): void {
    this.lastReceived = Date.now();
    this.awaitingFirst = false;
    if (this.done) return;
    if (f.data !== undefined) return this.onData(f.data.data);
    if (f.end !== undefined) {
      if (f.end.status !== undefined && f.end.status.code !== Status.OK) return this.cancel();
      if (this.requests !== undefined) this.requests.end();
      else if (!this.started)
        this.end({
          code: Status.INTERNAL,
          message: `${this.method.path}: the client half-closed before sending its request`,
        });
      return;
    }
    if (f.window !== undefined) return this.credit?.grant(f.window.credits);
    // ping: nothing beyond lastReceived; a second call frame: ignored.
  }

  /** Handles one request message (the payload of a Data frame). */
  onData(bytes: Uint8Array): void {
    this.lastReceived = Date.now();
    this.awaitingFirst = false;
    if (this.done) return;
    const max = this.core.options.maxMessageBytes;
    if (bytes.length > max) {
      return this.end({
        code: Status.RESOURCE_EXHAUSTED,
        message: `request message of ${this.method.path} is ${bytes.length} bytes, over the limit of ${max}`,
      });
    }
    let request: unknown;
    try {
      request = decodeProto(this.method.definition.requestType, bytes);
    } catch (e) {
      return this.end({
        code: Status.INTERNAL,
        message: `cannot decode a request of ${this.method.path}: ${(e as Error).message}`,
      });
    }
    if (this.requests !== undefined) {
      const bytesHeld = messageCost(bytes.length);
      if (!this.requests.push(request, this.native === undefined ? 1 : bytesHeld, bytesHeld)) {
        if (this.requests.overBudget) return this.end(this.overBudget());
        const what =
          this.native === undefined
            ? `${this.requests.capacity} unread messages`
            : `its window of ${this.core.options.window} bytes`;
        this.end({
          code: Status.RESOURCE_EXHAUSTED,
          message: `${this.method.path}: the client sent more than ${what}`,
        });
      }
      return;
    }
    if (this.started) return; // a unary-request method takes the first message only
    this.start(request);
  }

  get peer(): string {
    return `nats:${this.replyTo}`;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private start(request: unknown): void {
    this.started = true;
    this.run(request).catch((e: unknown) => {
      this.core.options.logger.error({ err: e, method: this.method.path }, "stream call failed unexpectedly");
    });
  }

  private readonly isDone = (): boolean => this.done;
  private readonly send = (response: unknown): Promise<void> | undefined => this.trySend(response);

  private async run(request: unknown): Promise<void> {
    try {
      const r = await runHandler(this.method, this.core.middleware, request, this, this.send, this.isDone);
      if (this.done) return;
      if (!this.method.definition.responseStream) await this.sendMessage(r);
      this.end({ code: Status.OK, message: "" });
    } catch (e) {
      if (this.done) return;
      this.end(handlerStatus(this.core, this.method, e));
    }
  }

  private async sendMessage(response: unknown): Promise<void> {
    const wait = this.trySend(response);
    if (wait !== undefined) await wait;
  }

  /**
   * Sends one response message: at once when there is credit (returns undefined, no promise),
   * else after the client grants some (returns that wait).
   */
  private trySend(response: unknown): Promise<void> | undefined {
    const type = this.method.definition.responseType;
    const { frame, length } = encodeMessageFrame(type, response);
    const max = this.core.options.maxMessageBytes;
    if (length > max)
      throw serverError(
        Status.RESOURCE_EXHAUSTED,
        `response message of ${this.method.path} is ${length} bytes, over the limit of ${max}`,
      );
    const send = (): void => {
      if (this.done) throw new AbortError();
      this.sendHeader();
      this.sendBytes(frame);
    };
    const wait = this.credit?.take(messageCost(length));
    if (wait === undefined) return void send();
    // Waiting for the client's credit, the encoded message counts against what all calls hold.
    const budget = this.core.buffered;
    if (!budget.take(length)) {
      const st = this.overBudget();
      throw serverError(st.code, st.message);
    }
    return wait.then(
      () => {
        budget.give(length);
        send();
      },
      (e: unknown) => {
        budget.give(length);
        throw e;
      },
    );
  }

  /** The status of a call whose message would pass the server's byte budget (maxBufferedBytes). */
  private overBudget(): StatusInfo {
    return {
      code: Status.RESOURCE_EXHAUSTED,
      message: `${this.method.path}: the server's calls hold ${this.core.options.maxBufferedBytes} bytes of waiting messages, its limit: try again later`,
    };
  }

  /** Sends the header metadata now (before the first message), if it was not sent yet. */
  sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    if (isEmpty(this.header)) return;
    this.sendFrame({ begin: { header: toFrameMetadata(this.header), nid: this.core.options.nid } });
  }

  /** Sends a frame to the client (batched, in order); if NATS refuses it, the call ends quietly. */
  sendFrame(frame: Partial<Response>, reply?: string): void {
    this.sendBytes(encodeResponse(frame as Response), reply);
  }

  /**
   * Window and Ping frames: published at once, past the outbox (their order against Data
   * does not matter), so credit flows back while the reader is still reading.
   */
  private sendControl(frame: Partial<Response>): void {
    this.lastSent = Date.now();
    try {
      this.core.publish(this.replyTo, encodeResponse(frame as Response));
    } catch (e) {
      this.onSendError(e);
    }
  }

  private sendBytes(bytes: Uint8Array, reply?: string): void {
    this.lastSent = Date.now();
    this.core.queue(this.replyTo, bytes, reply === undefined ? undefined : { reply }, this.onSendError);
  }

  private readonly onSendError = (e: unknown): void => {
    this.core.options.logger.warn({ err: e, method: this.method.path }, "could not send a frame");
    this.close(new AbortError());
  };

  /** Ends the call with a status sent to the client (once). */
  end(status: StatusInfo): void {
    if (this.done) return;
    if (status.code === Status.OK) this.sendHeader();
    let trailer;
    try {
      trailer = toFrameMetadata(this.trailer);
    } catch (e) {
      this.core.options.logger.error({ err: e, method: this.method.path }, "handler set invalid trailer metadata");
    }
    this.sendFrame({ end: { status: frameStatus(status.code, status.message), trailer } });
    this.core.record(this.method.path, status.code, status.message, performance.now() - this.startedAt);
    this.close(status.code === Status.OK ? undefined : new AbortError());
  }

  /** The client cancelled: abort the handler, send nothing. */
  cancel(): void {
    if (!this.done)
      this.core.record(
        this.method.path,
        Status.CANCELLED,
        "cancelled by the client",
        performance.now() - this.startedAt,
      );
    this.close(new AbortError());
  }

  /** The client went silent past its keep-alive (native) or the idle limit (compat): abort the handler. */
  expire(): void {
    this.core.options.logger.debug(
      { method: this.method.path, call: this.id },
      "client stopped answering; call cancelled",
    );
    this.close(new AbortError());
  }

  shutdown(): void {
    this.end({ code: Status.UNAVAILABLE, message: "server is shutting down" });
  }

  private close(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.deadline?.cleanup();
    if (err !== undefined) {
      this.abort.abort();
      this.requests?.fail(err);
      this.credit?.fail(err);
    } else {
      this.requests?.end();
      // The handler has returned: what it left unread goes back to the server's budget.
      this.requests?.discard();
    }
    this.onDone(this);
  }

  /**
   * Asks NATS whether the compat client is still there: an empty message (an empty Response,
   * which nats-grpc clients and ours ignore) to its reply subject, with the call's own subject
   * as reply. With nobody subscribed to the reply subject any more, nats-server answers
   * "no responders" (503) there, and the server ends the call (`expire`).
   */
  probe(now: number): void {
    this.lastProbe = now;
    try {
      this.core.publish(this.replyTo, EMPTY, { reply: this.callSubject });
    } catch (e) {
      this.onSendError(e);
    }
  }

  /** A ping if nothing was sent for the keep-alive interval (native calls). */
  keepalive(now: number): void {
    if (this.done || this.native === undefined) return;
    if (now - this.lastSent >= this.core.options.keepaliveMs) this.sendControl({ ping: {} });
  }
}
