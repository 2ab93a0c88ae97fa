/**
 * The server side of a unary call in one NATS request/reply: binary (content-type
 * application/grpc+proto) or JSON (proto3 JSON mapping; also any header-less JSON object).
 */
import { headers as natsHeaders, type Msg, type MsgHdrs } from "nats";
import { createDeadline, parseTimeout, type DeadlineTimer } from "../deadline.js";
import { CONTENT_TYPE, H, Metadata, OK_JSON, OK_PROTO, encodeMessage, isEmpty, readHeaders, writeHeaders } from "../metadata.js";
import { Status, serverError, serverStatusOf, statusName, type StatusInfo } from "../status.js";
import { encodeProto } from "../wire/encode.js";
import { decodeProto } from "../wire/reader.js";
import type { ServedMethod } from "./invoke.js";
import { createCallContext, handlerStatus, runHandler, type ContextSource } from "./server-handler.js";
import { tooBusy, type ActiveCall, type ServerCore } from "./server-core.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** How the payload of a unary request is encoded, from its content-type (undefined: unsupported). */
export function unaryEncoding(h: MsgHdrs | undefined, looksJson: boolean): "json" | "proto" | undefined {
  const ct = h?.get(H.contentType) ?? "";
  if (ct === "") return looksJson ? "json" : "proto";
  const base = (ct.split(";")[0] as string).trim().toLowerCase();
  if (base === CONTENT_TYPE.proto || base === CONTENT_TYPE.grpc) return "proto";
  if (base === CONTENT_TYPE.json || base === CONTENT_TYPE.grpcJson) return "json";
  return undefined;
}

class UnaryCall implements ActiveCall, ContextSource {
  private replied = false;
  private deadline: DeadlineTimer | undefined;
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
  ) {}

  startDeadline(ms: number): void {
    this.deadline = createDeadline(ms, () => this.fail({ code: Status.DEADLINE_EXCEEDED, message: `deadline of ${Math.round(ms)} ms exceeded` }));
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
    const type = this.method.definition.responseType;
    const codec = this.core.options.json;
    let data: Uint8Array;
    if (!this.json) data = encodeProto(type, response);
    else if (codec?.knows(this.method.path) === true) data = encoder.encode(codec.responseToJson(this.method.path, encodeProto(type, response)));
    else data = encoder.encode(JSON.stringify(type.toJSON(type.fromPartial(response as never))));
    const max = this.core.options.maxMessageBytes;
    if (data.length > max) {
      this.send({ code: Status.RESOURCE_EXHAUSTED, message: `response message of ${this.method.path} is ${data.length} bytes, over the limit of ${max}` }, undefined);
      return;
    }
    this.send({ code: Status.OK, message: "" }, data);
  }

  private send(status: StatusInfo, data: Uint8Array | undefined): void {
    this.replied = true;
    this.deadline?.cleanup();
    this.core.untrack(this);
    this.core.record(this.method.path, status.code, status.message, performance.now() - this.started);
    sendReply(this.core, this.reply, status, data, this.json, this.headerMd, this.trailerMd, this.method.path);
  }
}

/**
 * Sends a unary reply: status in `grpc-status` / `grpc-message`, header metadata as headers,
 * trailer metadata under `grpc-trailer-`. A JSON error reply also carries the status as a
 * JSON body. Never throws.
 */
export function sendReply(
  core: ServerCore,
  reply: string,
  status: StatusInfo,
  data: Uint8Array | undefined,
  json: boolean,
  header?: Metadata,
  trailer?: Metadata,
  path = "",
): void {
  const plain = status.code === Status.OK && (header === undefined || isEmpty(header)) && (trailer === undefined || isEmpty(trailer));
  if (plain) {
    try {
      core.publish(reply, data ?? EMPTY, { headers: json ? OK_JSON : OK_PROTO });
      return;
    } catch {
      // fall through: the general path reports it
    }
  }
  const h = natsHeaders();
  h.set(H.status, String(status.code));
  if (status.code !== Status.OK) h.set(H.message, encodeMessage(status.message));
  if (json) h.set(H.contentType, CONTENT_TYPE.json);
  try {
    writeHeaders(header, h);
    writeHeaders(trailer, h, H.trailerPrefix);
  } catch (e) {
    core.options.logger.error({ err: e, method: path }, "handler set invalid metadata");
  }
  let body = data ?? EMPTY;
  if (data === undefined && json && status.code !== Status.OK) {
    body = encoder.encode(JSON.stringify({ code: status.code, status: statusName(status.code), message: status.message }));
  }
  try {
    core.publish(reply, body, { headers: h });
  } catch (e) {
    const st = serverStatusOf(e);
    if (st.code === Status.RESOURCE_EXHAUSTED && data !== undefined) {
      sendReply(core, reply, st, undefined, json, undefined, undefined, path);
    } else {
      core.options.logger.warn({ err: e, method: path }, "could not send a reply");
    }
  }
}

const EMPTY = new Uint8Array(0);

function decodeRequest(core: ServerCore, method: ServedMethod, data: Uint8Array, json: boolean): unknown {
  const type = method.definition.requestType;
  const codec = core.options.json;
  if (json && codec?.knows(method.path) === true) {
    let text: string;
    try {
      text = utf8.decode(data).trim();
    } catch {
      throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} is not valid UTF-8`);
    }
    let bytes: Uint8Array;
    try {
      bytes = codec.requestFromJson(method.path, text === "" ? "{}" : text);
    } catch (e) {
      throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} is not valid: ${(e as Error).message}`, e);
    }
    return type.decode(bytes);
  }
  if (!json) {
    try {
      return decodeProto(type, data);
    } catch (e) {
      throw serverError(Status.INTERNAL, `cannot decode the request of ${method.path}: ${(e as Error).message}`, e);
    }
  }
  let value: unknown;
  try {
    const text = utf8.decode(data).trim();
    value = text === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} is not valid JSON: ${(e as Error).message}`, e);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} must be a JSON object`);
  }
  try {
    return type.fromJSON(value);
  } catch (e) {
    throw serverError(Status.INVALID_ARGUMENT, `invalid field value in the request of ${method.path}: ${(e as Error).message}`, e);
  }
}

/**
 * Serves one unary request that arrived as a single NATS message. Never throws.
 * `plain`: its headers are known to be just the binary content type (nothing to parse).
 */
export function serveUnary(core: ServerCore, method: ServedMethod, msg: Msg, json: boolean, plain = false): void {
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
    call.fail({ code: Status.RESOURCE_EXHAUSTED, message: `request message of ${method.path} is ${data.length} bytes, over the limit of ${max}` });
    return;
  }
  const d = method.definition;
  if (d.requestStream || d.responseStream) {
    call.fail({ code: Status.INVALID_ARGUMENT, message: `${method.path} is a streaming method: call it with the stream protocol (frames), not a single request` });
    return;
  }
  let request: unknown;
  try {
    request = decodeRequest(core, method, data, json);
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
    call.succeed(await runHandler(method, core.middleware, request, createCallContext(call)));
  } catch (e) {
    call.fail(handlerStatus(core, method, e));
  }
}
