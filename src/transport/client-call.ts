/**
 * The client side of a call carried in frames: native streams (Accept from a per-call
 * subject, flow control, keep-alive, deadline) and nats-grpc compat (any kind, Go servers).
 */
import { AbortError } from "abort-controller-x";
import type { Msg } from "nats";
import { createDeadline, msUntil, type DeadlineTimer } from "../deadline.js";
import { fromFrameMetadata, toFrameMetadata } from "../metadata.js";
import { Status, toStatusCode } from "../status.js";
import { decodeProto } from "../wire/reader.js";
import {
  dataFramePayload,
  decodeResponse,
  encodeDataFrame,
  encodeRequest,
  type Request,
  type Response,
} from "../wire/frames.js";
import { clientError, type ClientCore } from "./client-core.js";
import { asClientError, encodeRequestMessage, targetSubject } from "./client-unary.js";
import type { NatsCallOptions, ResolvedMethod } from "./definition.js";
import { Credit, Grants, MessageQueue, messageCost } from "./flow.js";
import type { Ticking } from "./keepalive.js";

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One call carried in frames, from the client's side. */
export class ClientFrameCall implements Ticking {
  /** Response messages, in order; the reader of this is the caller. */
  readonly responses: MessageQueue<unknown>;
  private readonly native: boolean;
  private readonly path: string;
  private readonly subject: string;
  private readonly token: number;
  private readonly reply: string;
  /** Where frames after the Call go: the server's per-call subject (native) or the method subject. */
  private target: string | undefined;
  private credit: Credit | undefined;
  private accepted: (() => void) | undefined;
  private readonly acceptedP: Promise<void>;
  private done = false;
  private deadline: DeadlineTimer | undefined;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  private serverKeepaliveMs = 0;
  private readonly grants: Grants | undefined;
  private readonly onAbort = (): void => this.cancel(new AbortError(), "cancelled by the client");

  constructor(
    private readonly core: ClientCore,
    private readonly method: ResolvedMethod,
    private readonly options: NatsCallOptions,
  ) {
    const o = core.options;
    this.native = o.wire === "native";
    this.path = method.path;
    if (this.native) {
      const grants = new Grants(o.window, (credits) => this.sendControl({ window: { credits } }));
      this.grants = grants;
      this.responses = new MessageQueue(
        o.window + messageCost(o.maxMessageBytes),
        (cost) => grants.onRead(cost),
        () => this.cancel(new AbortError(), "the client stopped reading"),
      );
    } else {
      this.responses = new MessageQueue(o.compatQueueLimit, undefined, () =>
        this.cancel(new AbortError(), "the client stopped reading"),
      );
    }
    this.acceptedP = new Promise((resolve) => (this.accepted = resolve));
    this.subject = targetSubject(core, method, options);
    const token = core.mux.add({ deliver: (msg) => this.onMessage(msg) });
    const subject = core.mux.subjectOf(token);
    this.token = token;
    this.reply = subject;
    if (!this.native) {
      this.target = this.subject;
      this.accepted?.();
    }
  }

  /** Sends the Call frame and starts the deadline; throws (as a status error) if it cannot. */
  start(): void {
    const o = this.core.options;
    const signal = this.options.signal;
    if (signal?.aborted === true) throw new AbortError();
    let timeoutMs = 0;
    if (this.options.deadline !== undefined) {
      timeoutMs = msUntil(this.options.deadline);
      if (timeoutMs <= 0)
        throw clientError(this.path, Status.DEADLINE_EXCEEDED, "deadline exceeded before the call was sent");
      this.deadline = createDeadline(timeoutMs, () =>
        this.cancel(
          clientError(this.path, Status.DEADLINE_EXCEEDED, `deadline of ${Math.round(timeoutMs)} ms exceeded`),
          "deadline exceeded",
          Status.DEADLINE_EXCEEDED,
        ),
      );
    }
    let metadata;
    try {
      metadata = toFrameMetadata(this.options.metadata);
    } catch (e) {
      throw asClientError(this.path, e);
    }
    const call: NonNullable<Request["call"]> = { method: this.path, metadata, nid: o.callerNid, native: undefined };
    if (this.native)
      call.native = { timeoutMs: Math.ceil(timeoutMs), window: o.window, keepaliveMs: o.keepaliveMs, version: 1 };
    signal?.addEventListener("abort", this.onAbort);
    if (this.native) this.core.keepalive.add(this);
    this.core.queue(
      this.path,
      this.subject,
      encodeRequest({ call } as Request),
      { reply: this.reply },
      this.onSendError,
    );
  }

  private readonly onSendError = (e: unknown): void => this.fail(e);

  /** Sends the requests (one, or a stream) and then the half-close. Errors end the call. */
  async pump(requests: AsyncIterable<unknown> | undefined, single: unknown): Promise<void> {
    try {
      await this.acceptedP;
      if (requests === undefined) {
        await this.sendMessage(single);
      } else {
        // Compat: a Go server handles each frame on its own goroutine, so messages sent back to
        // back may reach its handler out of order; each waits compatGapMs after the one before.
        const gap = this.native ? 0 : this.core.options.compatGapMs;
        let sent = 0;
        for await (const r of requests) {
          if (this.done) return;
          if (gap > 0 && sent++ > 0) await pause(gap);
          if (this.done) return;
          await this.sendMessage(r);
        }
      }
      if (this.done) return;
      if (!this.native && this.core.options.compatGapMs > 0) await pause(this.core.options.compatGapMs);
      if (!this.done && (this.native || this.method.definition.requestStream))
        this.send({ end: { status: undefined, trailer: undefined } });
    } catch (e) {
      if (this.done) return;
      this.cancel(asClientError(this.path, e), "the request stream failed");
    }
  }

  private async sendMessage(message: unknown): Promise<void> {
    const data = encodeRequestMessage(this.core, this.method, message);
    const wait = this.credit?.take(messageCost(data.length));
    if (wait !== undefined) await wait;
    if (this.done) return;
    this.sendBytes(encodeDataFrame(data));
  }

  private send(frame: Partial<Request>): void {
    this.sendBytes(encodeRequest(frame as Request));
  }

  /** Window and Ping frames: at once, past the outbox (their order against Data does not matter). */
  private sendControl(frame: Partial<Request>): void {
    if (this.target === undefined) return;
    this.lastSent = Date.now();
    try {
      this.core.publish(this.path, this.target, encodeRequest(frame as Request), { reply: this.reply });
    } catch (e) {
      this.fail(e);
    }
  }

  private sendBytes(bytes: Uint8Array): void {
    if (this.target === undefined) return;
    this.lastSent = Date.now();
    this.core.queue(this.path, this.target, bytes, { reply: this.reply }, this.onSendError);
  }

  private onMessage(msg: Msg | undefined): void {
    if (this.done) return;
    if (msg === undefined)
      return this.fail(clientError(this.path, Status.UNAVAILABLE, "the NATS connection dropped during the call"));
    this.lastReceived = Date.now();
    const h = msg.headers;
    if (h !== undefined && h.code === 503 && msg.data.length === 0) {
      return this.fail(
        clientError(this.path, Status.UNAVAILABLE, `no server is serving ${this.subject} (NATS: no responders)`),
      );
    }
    const payload = h === undefined ? dataFramePayload(msg.data) : undefined;
    if (payload !== undefined) return this.onData(payload);
    let f: Response;
    try {
      f = decodeResponse(msg.data);
    } catch (e) {
      return this.cancel(
        clientError(this.path, Status.INTERNAL, `cannot decode a frame from the server: ${(e as Error).message}`),
        "undecodable frame",
      );
    }
    try {
      this.onFrame(f, msg);
    } catch (e) {
      this.cancel(asClientError(this.path, e), "client failure");
    }
  }

  /** One response message (the payload of a Data frame). */
  private onData(bytes: Uint8Array): void {
    const max = this.core.options.maxMessageBytes;
    if (bytes.length > max)
      return this.cancel(
        clientError(
          this.path,
          Status.RESOURCE_EXHAUSTED,
          `response message is ${bytes.length} bytes, over the limit of ${max}`,
        ),
        "message too large",
      );
    let message: unknown;
    try {
      message = decodeProto(this.method.definition.responseType, bytes);
    } catch (e) {
      return this.cancel(
        clientError(this.path, Status.INTERNAL, `cannot decode a response: ${(e as Error).message}`),
        "undecodable response",
      );
    }
    if (!this.responses.push(message, this.native ? messageCost(bytes.length) : 1)) {
      const what = this.native
        ? `the window of ${this.core.options.window} bytes`
        : `${this.responses.capacity} unread messages`;
      this.cancel(
        clientError(this.path, Status.RESOURCE_EXHAUSTED, `the server sent more than ${what}`),
        "flow control violated",
      );
    }
  }

  private onFrame(f: Response, msg: Msg): void {
    if (f.accept !== undefined) {
      if (!this.native || this.target !== undefined) return;
      if (msg.reply === undefined || msg.reply === "")
        return this.cancel(
          clientError(this.path, Status.INTERNAL, "the server's accept has no reply subject"),
          "bad accept",
        );
      this.target = msg.reply;
      this.credit = new Credit(Math.max(1, f.accept.window));
      this.serverKeepaliveMs = f.accept.keepaliveMs;
      this.accepted?.();
      return;
    }
    if (f.data !== undefined) return this.onData(f.data.data);
    if (f.begin !== undefined) return this.options.onHeader?.(fromFrameMetadata(f.begin.header));
    if (f.window !== undefined) return this.credit?.grant(f.window.credits);
    if (f.end !== undefined) {
      this.options.onTrailer?.(fromFrameMetadata(f.end.trailer));
      const st = f.end.status;
      const code = st === undefined ? Status.OK : toStatusCode(st.code);
      if (code === Status.OK) {
        this.close();
        this.responses.end();
        if (!this.native && !this.method.definition.requestStream) this.sendCompatHalfClose();
      } else {
        // The server's error status: the messages it sent before it are still read first.
        const err = clientError(this.path, code, st?.message ?? "");
        this.close();
        this.responses.end(err);
        this.credit?.fail(err);
      }
    }
    // ping: lastReceived is enough
  }

  /** Like the Go client, a compat unary or server-streaming call half-closes after the server's end. */
  private sendCompatHalfClose(): void {
    try {
      this.core.queue(
        this.path,
        this.subject,
        encodeRequest({ end: { status: undefined, trailer: undefined } } as Request),
        { reply: this.reply },
        () => {},
      );
    } catch {
      /* the call is over either way */
    }
  }

  /** Ends the call locally with an error (the server already knows, or is gone). */
  private fail(err: unknown): void {
    if (this.done) return;
    this.close();
    this.responses.fail(err);
    this.credit?.fail(err);
  }

  /**
   * Ends the call with an error and tells the server (End with a status: a cancel), at once:
   * after what the outbox holds, but without waiting for the end of the turn, so a caller
   * that closes its connection next still gets the cancel out.
   */
  cancel(err: unknown, why: string, code: Status = Status.CANCELLED): void {
    if (this.done) return;
    if (this.target !== undefined) {
      try {
        this.core.flush();
        this.core.publish(
          this.path,
          this.target,
          encodeRequest({ end: { status: { code, message: why, details: [] }, trailer: undefined } } as Request),
          { reply: this.reply },
        );
      } catch {
        /* the connection is gone: nothing to tell */
      }
    }
    this.fail(err);
  }

  private close(): void {
    this.done = true;
    this.deadline?.cleanup();
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.core.mux.remove(this.token);
    this.core.keepalive.delete(this);
  }

  /** Keep-alive: ping when idle; fail when the server has been silent for 3 of its intervals. */
  tick(now: number): void {
    if (this.done) return;
    const ka = this.core.options.keepaliveMs;
    const limit = 3 * (this.serverKeepaliveMs > 0 ? this.serverKeepaliveMs : ka);
    if (now - this.lastReceived > limit) {
      return this.fail(
        clientError(
          this.path,
          Status.UNAVAILABLE,
          `the server stopped answering (no frame for ${now - this.lastReceived} ms)`,
        ),
      );
    }
    if (this.target !== undefined && now - this.lastSent >= ka) {
      try {
        this.sendControl({ ping: {} });
      } catch {
        /* reported by the next tick or the connection status */
      }
    }
  }
}
