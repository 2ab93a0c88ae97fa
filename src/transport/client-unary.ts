/** The client side of a native unary call: one NATS request, one reply (docs/PROTOCOL.md). */
import { AbortError } from "abort-controller-x";
import { headers as natsHeaders, type Msg, type MsgHdrs } from "nats";
import { encodeTimeout, msUntil } from "../deadline.js";
import {
  CONTENT_TYPE,
  H,
  Metadata,
  MetadataError,
  PLAIN_REQUEST,
  decodeMessage,
  isEmpty,
  isPlainOk,
  readHeaders,
  writeHeaders,
} from "../metadata.js";
import { Status, toStatusCode } from "../status.js";
import { methodSubject, tokenProblem } from "../subjects.js";
import { encodeProto } from "../wire/encode.js";
import { decodeProto } from "../wire/reader.js";
import { clientError, type ClientCore } from "./client-core.js";
import type { NatsCallOptions, ResolvedMethod } from "./definition.js";
import type { MuxReceiver } from "./mux.js";
import { deadlineRequestHeaders } from "./deadline-headers.js";
import { WheelDeadline } from "./deadline-wheel.js";

/** The node a call goes to: the call's `nid`, else the client's; checked so it cannot break the subject. */
export function targetSubject(core: ClientCore, method: ResolvedMethod, options: NatsCallOptions): string {
  const nid = options.nid ?? core.options.nid;
  if (nid !== "" && nid !== "*") {
    const p = tokenProblem("node id", nid);
    if (p !== undefined) throw clientError(method.path, Status.INVALID_ARGUMENT, p);
    return methodSubject(core.options.prefix, method.service, method.name, nid);
  }
  return methodSubject(core.options.prefix, method.service, method.name);
}

/** Encodes a request, enforcing the size limit. */
export function encodeRequestMessage(core: ClientCore, method: ResolvedMethod, request: unknown): Uint8Array {
  const type = method.definition.requestType;
  const data = encodeProto(type, request);
  const max = core.options.maxMessageBytes;
  if (data.length > max)
    throw clientError(
      method.path,
      Status.RESOURCE_EXHAUSTED,
      `request message is ${data.length} bytes, over the limit of ${max}`,
    );
  return data;
}

/** Turns metadata that cannot be sent (a MetadataError from metadata.ts) into the call's ClientError, keeping the cause. */
export function asClientError(path: string, e: unknown): unknown {
  return e instanceof MetadataError ? clientError(path, Status.INTERNAL, e.message, e) : e;
}

/** The last timeout's headers: a deadline given as a number of ms is the same every call (no string made per call). */
let lastMs = NaN;
let lastHeaders = PLAIN_REQUEST;

function headersFor(ms: number): MsgHdrs {
  if (ms !== lastMs) {
    lastHeaders = deadlineRequestHeaders(encodeTimeout(ms));
    lastMs = ms;
  }
  return lastHeaders;
}

export function unaryCall(
  core: ClientCore,
  method: ResolvedMethod,
  request: unknown,
  options: NatsCallOptions,
): Promise<unknown> {
  const path = method.path;
  const signal = options.signal;
  if (signal?.aborted === true) return Promise.reject(new AbortError());
  let subject: string;
  let data: Uint8Array;
  let h = PLAIN_REQUEST;
  let timeoutMs: number | undefined;
  try {
    subject = targetSubject(core, method, options);
    data = encodeRequestMessage(core, method, request);
    const md = options.metadata;
    const noMetadata = md === undefined || isEmpty(md);
    if (options.deadline !== undefined && noMetadata) {
      // A deadline alone: headers encoded once per timeout value, that the server reads in place.
      timeoutMs = msUntil(options.deadline);
      if (timeoutMs <= 0)
        throw clientError(path, Status.DEADLINE_EXCEEDED, "deadline exceeded before the call was sent");
      h = headersFor(timeoutMs);
    } else if (options.deadline !== undefined || !noMetadata) {
      h = natsHeaders();
      h.set(H.contentType, CONTENT_TYPE.proto);
      writeHeaders(md, h);
      if (options.deadline !== undefined) {
        timeoutMs = msUntil(options.deadline);
        if (timeoutMs <= 0)
          throw clientError(path, Status.DEADLINE_EXCEEDED, "deadline exceeded before the call was sent");
        h.set(H.timeout, encodeTimeout(timeoutMs));
      }
    }
  } catch (e) {
    return Promise.reject(asClientError(path, e));
  }
  return new Promise((resolve, reject) => {
    const call = new PendingUnary(core, method, subject, options, resolve, reject);
    call.send(data, h, timeoutMs);
  });
}

/** A unary call waiting for its reply: one object per call, its own deadline (no closures on the common path). */
class PendingUnary extends WheelDeadline implements MuxReceiver {
  private readonly token: number;
  private timeoutMs = 0;
  private onAbort: (() => void) | undefined;
  private done = false;

  constructor(
    private readonly core: ClientCore,
    private readonly method: ResolvedMethod,
    private readonly subject: string,
    private readonly options: NatsCallOptions,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    super();
    this.token = core.mux.add(this);
  }

  protected expired(): void {
    const ms = Math.round(this.timeoutMs);
    this.fail(clientError(this.method.path, Status.DEADLINE_EXCEEDED, `deadline of ${ms} ms exceeded`));
  }

  send(data: Uint8Array, headers: MsgHdrs, timeoutMs: number | undefined): void {
    if (timeoutMs !== undefined) {
      this.timeoutMs = timeoutMs;
      this.core.deadlines.add(this, timeoutMs);
    }
    const signal = this.options.signal;
    if (signal !== undefined) {
      this.onAbort = () => this.fail(new AbortError());
      signal.addEventListener("abort", this.onAbort);
    }
    const opts = { reply: this.core.mux.subjectOf(this.token), headers };
    try {
      // Batched: NATS's refusal (when the batch goes out) fails the call.
      if (this.core.options.batchUnary)
        this.core.queue(this.method.path, this.subject, data, opts, (e) => this.fail(e));
      else this.core.publish(this.method.path, this.subject, data, opts);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The reply (or `undefined`: the connection dropped). */
  deliver(msg: Msg | undefined): void {
    if (!this.finish()) return;
    let value: unknown;
    try {
      value = readReply(this.core, this.method, this.subject, msg, this.options);
    } catch (e) {
      this.reject(e);
      return;
    }
    this.resolve(value);
  }

  private fail(err: unknown): void {
    if (this.finish()) this.reject(err);
  }

  /** Lets go of the call's token, timer and listener; false if it was already finished. */
  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.core.mux.remove(this.token);
    if (this.hasDeadline) this.cleanup();
    if (this.onAbort !== undefined) this.options.signal?.removeEventListener("abort", this.onAbort);
    return true;
  }
}

/** Reads a unary reply: status, header and trailer metadata, and the response message. */
function readReply(
  core: ClientCore,
  method: ResolvedMethod,
  subject: string,
  msg: Msg | undefined,
  options: NatsCallOptions,
): unknown {
  const path = method.path;
  if (msg === undefined)
    throw clientError(path, Status.UNAVAILABLE, "the NATS connection dropped before the reply arrived");
  if (isPlainOk(msg)) {
    options.onHeader?.(Metadata());
    options.onTrailer?.(Metadata());
    return decodeResponse(core, method, msg.data);
  }
  const h = msg.headers;
  if (h === undefined) throw clientError(path, Status.INTERNAL, `the reply from ${subject} has no grpc-status header`);
  if (h.code === 503 && msg.data.length === 0)
    throw clientError(path, Status.UNAVAILABLE, `no server is serving ${subject} (NATS: no responders)`);
  const raw = h.get(H.status);
  if (raw === "") throw clientError(path, Status.INTERNAL, `the reply from ${subject} has no grpc-status header`);
  options.onHeader?.(readHeaders(h));
  const code = toStatusCode(Number(raw));
  if (options.onTrailer !== undefined) options.onTrailer(readHeaders(h, H.trailerPrefix));
  if (code !== Status.OK) throw clientError(path, code, decodeMessage(h.get(H.message)));
  return decodeResponse(core, method, msg.data);
}

function decodeResponse(core: ClientCore, method: ResolvedMethod, data: Uint8Array): unknown {
  const max = core.options.maxMessageBytes;
  if (data.length > max)
    throw clientError(
      method.path,
      Status.RESOURCE_EXHAUSTED,
      `response message is ${data.length} bytes, over the limit of ${max}`,
    );
  try {
    return decodeProto(method.definition.responseType, data);
  } catch (e) {
    throw clientError(method.path, Status.INTERNAL, `cannot decode the response: ${(e as Error).message}`, e);
  }
}
