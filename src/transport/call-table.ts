/**
 * The frame calls a server holds (native streams and nats-grpc compat calls): their tables,
 * their unguessable ids, the bound on how many there are, and the ticker that keeps them
 * alive or ends them (keep-alive, the first-message limit, probes of silent compat clients,
 * the idle limit). The server's dispatch only classifies messages and hands frames here.
 */
import type { Msg } from "nats";
import { Status, type StatusInfo } from "../status.js";
import {
  dataFramePayload,
  decodeRequest,
  encodeResponse,
  frameStatus,
  type Request,
  type Response,
} from "../wire/frames.js";
import { fromFrameMetadata, type Metadata } from "../metadata.js";
import type { ServedMethod } from "./invoke.js";
import type { ActiveCall, ServerCore } from "./server-core.js";
import { ServerFrameCall } from "./server-call.js";
import { randomChars } from "./tokens.js";

type Native = NonNullable<NonNullable<Request["call"]>["native"]>;

/** A server's frame calls: opened, routed to, ticked and bounded here. */
export class CallTable {
  /** Every frame call, by its id (the last token of its per-call subject). */
  private readonly byId = new Map<string, ServerFrameCall>();
  /** Compat calls, by the client's reply subject (the Go protocol's only key). */
  private readonly compat = new Map<string, ServerFrameCall>();
  private next = 0;
  private ticker: NodeJS.Timeout | undefined;

  constructor(
    private readonly core: ServerCore,
    private readonly active: Set<ActiveCall>,
  ) {
    const o = core.options;
    const tick = Math.max(
      5,
      Math.floor(
        Math.min(o.keepaliveMs, o.compatIdleMs, o.compatStartMs, o.compatProbeMs > 0 ? o.compatProbeMs : Infinity) / 2,
      ),
    );
    this.ticker = setInterval(() => this.tick(), tick);
    this.ticker.unref();
  }

  /** Frame calls held. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * A frame on a method subject (a compat call's frame, or the Call that opens any frame call).
   * `refuse` says why a new call cannot be taken (shutting down, unknown method, full), if so.
   */
  onMethodFrame(msg: Msg, method: ServedMethod | undefined, refuse: () => StatusInfo | undefined): void {
    let frame: Request;
    try {
      frame = decodeRequest(msg.data);
    } catch (e) {
      return this.replyEnd(msg, {
        code: Status.INTERNAL,
        message: `cannot decode the frame sent to ${msg.subject}: ${(e as Error).message}`,
      });
    }
    const reply = msg.reply;
    if (reply === undefined || reply === "") return;
    const existing = this.compatCall(reply, msg.subject);
    if (existing !== undefined) return existing.onFrame(frame);
    if (frame.call === undefined || this.compatTaken(reply)) {
      this.core.options.logger.debug({ subject: msg.subject }, "frame for no known call dropped");
      return;
    }
    const refused = refuse();
    if (refused !== undefined || method === undefined)
      return this.replyEnd(msg, refused ?? { code: Status.UNIMPLEMENTED, message: `no method at ${msg.subject}` });
    this.open(method, reply, msg.subject, frame.call.native, fromFrameMetadata(frame.call.metadata));
  }

  /** Answers a frame with an End carrying `status` (a call that is not taken). */
  replyEnd(msg: Msg, status: StatusInfo): void {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      this.core.publish(
        msg.reply,
        encodeResponse({
          end: { status: frameStatus(status.code, status.message), trailer: undefined },
        } as Partial<Response> as Response),
      );
    } catch (e) {
      this.core.options.logger.warn({ err: e, subject: msg.subject }, "could not send an error frame");
    }
  }

  /** The compat call of this reply subject, if the frame came on the call's own subject. */
  compatCall(reply: string, subject: string): ServerFrameCall | undefined {
    const call = this.compat.get(reply);
    return call !== undefined && call.subject === subject ? call : undefined;
  }

  /** True when a compat call holds this reply subject (whatever subject it came on). */
  compatTaken(reply: string): boolean {
    return this.compat.has(reply);
  }

  /** Opens a call for a Call frame (the caller checked the server can take it). */
  open(method: ServedMethod, reply: string, subject: string, native: Native | undefined, metadata: Metadata): void {
    const id = `${(this.next++).toString(36)}${randomChars()}`;
    const call = new ServerFrameCall(this.core, method, id, reply, subject, native, metadata, (c) => {
      this.byId.delete(c.id);
      if (!c.isNative && this.compat.get(c.replyTo) === c) this.compat.delete(c.replyTo);
      this.active.delete(c);
    });
    if (call.closed) return; // ended while it started (an Accept NATS refused)
    this.byId.set(id, call);
    if (native === undefined) this.compat.set(reply, call);
    this.active.add(call);
  }

  /**
   * A message on the server's per-call subject `<callInbox>.<id>`. For a native call, a frame
   * counts only with the call's reply subject (its peer's); for a compat call, only NATS's
   * "no responders" answer to a probe does.
   */
  onCallMessage(id: string, msg: Msg): void {
    const call = this.byId.get(id);
    if (call === undefined) return;
    if (!call.isNative) {
      const h = msg.headers;
      if (h !== undefined && h.code === 503 && msg.data.length === 0 && (msg.reply ?? "") === "") call.expire();
      return;
    }
    if (msg.reply !== call.replyTo) {
      this.core.options.logger.debug({ subject: msg.subject }, "frame from another peer than the call's dropped");
      return;
    }
    const payload = dataFramePayload(msg.data);
    if (payload !== undefined) return call.onData(payload);
    let frame: Request;
    try {
      frame = decodeRequest(msg.data);
    } catch (e) {
      return call.end({ code: Status.INTERNAL, message: `cannot decode a frame: ${(e as Error).message}` });
    }
    call.onFrame(frame);
  }

  private tick(): void {
    const now = Date.now();
    const o = this.core.options;
    for (const call of this.byId.values()) {
      if (call.isNative) {
        const ka = call.peerKeepaliveMs;
        if (ka > 0 && now - call.lastReceived > 3 * ka) call.expire();
        else if (call.awaitingRequest && now - call.openedAt > o.compatStartMs)
          // A single-request method's request follows its Call at once: pings alone hold nothing.
          call.end({
            code: Status.DEADLINE_EXCEEDED,
            message: `the client sent no request after its Call for ${o.compatStartMs} ms`,
          });
        else call.keepalive(now);
        continue;
      }
      if (call.awaitingFirst && now - call.openedAt > o.compatStartMs) {
        call.end({
          code: Status.DEADLINE_EXCEEDED,
          message: `the client sent nothing after its Call for ${o.compatStartMs} ms`,
        });
      } else if (now - Math.max(call.lastReceived, call.lastSent) > o.compatIdleMs) {
        call.expire();
      } else if (
        o.compatProbeMs > 0 &&
        now - call.lastReceived > o.compatProbeMs &&
        now - call.lastProbe > o.compatProbeMs
      ) {
        call.probe(now);
      }
    }
  }

  /** Stops the ticker (the calls themselves are ended by the server). */
  close(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
