/**
 * The Connect protocol, binary or JSON (json.ts converts with schemas from the bus): unary calls as a plain POST of the message (errors as JSON
 * with an HTTP status, trailers as `trailer-` headers), streams as prefixed messages ending in
 * a JSON end-of-stream message flagged 0x02.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { Metadata, Status, statusName } from "../index.js";
import { BodyReader } from "./body-reader.js";
import {
  compress,
  encodingOf,
  inflate,
  compressing,
  responseCompression,
  worthCompressing,
  type Encoding,
  type ResponseCompression,
} from "./compression.js";
import { requestsOf, statusOf, type CallSink, type Requests } from "./bridge.js";
import { parseConnectGet } from "./connect-get.js";
import type { GatewayCore } from "./core.js";
import type { Exchange } from "./exchange.js";
import { framed } from "./framing.js";
import { header, metadataHeaders } from "./headers.js";
import { JsonSink, jsonRequests } from "./json.js";
import { splitDetails, type ConnectDetail } from "./details.js";
import { webCall, wholeBody, type Cors } from "./web-call.js";

const END_STREAM = 0x02;
const COMPRESSED = 0x01;

/** Connect's HTTP status for each code (connectrpc.com/docs/protocol). */
const HTTP_STATUS = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** Connect's name of a code: the gRPC name in lower case, CANCELLED spelt "canceled". */
export function connectCode(code: Status): string {
  return code === Status.CANCELLED ? "canceled" : statusName(code).toLowerCase();
}

/** Connect's error JSON, with the rich details of `grpc-status-details-bin` when the service sent them. */
function errorJson(
  code: Status,
  message: string,
  details: ConnectDetail[] = [],
): { code: string; message?: string; details?: ConnectDetail[] } {
  const e: { code: string; message?: string; details?: ConnectDetail[] } = { code: connectCode(code) };
  if (message !== "") e.message = message;
  if (details.length > 0) e.details = details;
  return e;
}

/** The answer of a unary call, sent whole at its end. */
class UnarySink implements CallSink {
  private head = Metadata();
  private body: Uint8Array | undefined;
  /** True once the answer was sent. */
  ended = false;

  constructor(
    private readonly x: Exchange,
    private readonly extra: OutgoingHttpHeaders,
    private readonly contentType: string,
    private readonly compression?: ResponseCompression,
  ) {}

  header(md: Metadata): void {
    this.head = md;
  }

  message(bytes: Uint8Array): undefined {
    this.body = bytes;
    return undefined;
  }

  end(code: Status, message: string, trailer: Metadata): void {
    if (this.ended) return;
    this.ended = true;
    if (code === Status.OK && this.body !== undefined) {
      const h = metadataHeaders(trailer, metadataHeaders(this.head, { ...this.extra }), "trailer-");
      h["content-type"] = this.contentType;
      const body = this.body;
      const c = this.compression;
      if (!worthCompressing(c, body.length)) {
        this.x.respond(200, h);
        return this.x.end(body);
      }
      const send = (z: Uint8Array): void => {
        h["content-encoding"] = c.encoding;
        this.x.respond(200, h);
        this.x.end(z);
      };
      const z = compress(c.encoding, body);
      if (!(z instanceof Promise)) return send(z);
      void z.then(send, () => {
        this.x.respond(200, h);
        this.x.end(body);
      });
      return;
    }
    const { details, rest } = splitDetails(trailer);
    const h = metadataHeaders(rest, metadataHeaders(this.head, { ...this.extra }), "trailer-");
    const json =
      code === Status.OK
        ? errorJson(Status.INTERNAL, "the service sent no response message")
        : errorJson(code, message, details);
    this.x.respond(HTTP_STATUS[code === Status.OK ? Status.INTERNAL : code] ?? 500, {
      ...h,
      "content-type": "application/json",
    });
    this.x.end(Buffer.from(JSON.stringify(json)));
  }
}

/** The answer of a streaming call. */
class StreamSink implements CallSink {
  private done = false;
  /** The `connect-content-encoding` announced: messages over the threshold go compressed. */
  private encoding: Encoding | undefined;

  /** True once the end-of-stream message was sent. */
  get ended(): boolean {
    return this.done;
  }

  constructor(
    private readonly x: Exchange,
    private readonly contentType: string,
    private readonly extra: OutgoingHttpHeaders,
    private readonly compression?: ResponseCompression,
  ) {}

  header(md: Metadata, firstBytes?: number): void {
    if (this.x.responded) return;
    const h = metadataHeaders(md, { ...this.extra, "content-type": this.contentType });
    const c = this.compression;
    if (c !== undefined && (firstBytes === undefined || firstBytes >= c.minBytes)) {
      this.encoding = c.encoding;
      h["connect-content-encoding"] = c.encoding;
    }
    this.x.respond(200, h);
  }

  message(bytes: Uint8Array): Promise<void> | undefined {
    this.header(Metadata());
    if (this.done) return undefined;
    if (this.encoding !== undefined && worthCompressing(this.compression, bytes.length)) {
      const c = compress(this.encoding, bytes);
      const send = (z: Uint8Array): Promise<void> | undefined =>
        this.done ? undefined : this.x.write(framed(z, COMPRESSED));
      return c instanceof Promise ? c.then(send) : send(c);
    }
    return this.x.write(framed(bytes));
  }

  end(code: Status, message: string, trailer: Metadata): void {
    if (this.done) return;
    this.done = true;
    this.header(Metadata());
    const { details, rest } = code === Status.OK ? { details: [], rest: trailer } : splitDetails(trailer);
    const metadata: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(metadataHeaders(rest, {})))
      metadata[k] = (Array.isArray(v) ? v : [v]).map(String);
    const end: { error?: object; metadata?: object } = {};
    if (code !== Status.OK) end.error = errorJson(code, message, details);
    if (Object.keys(metadata).length > 0) end.metadata = metadata;
    this.x.end(framed(Buffer.from(JSON.stringify(end)), END_STREAM));
  }
}

/** True for the content types of Connect (unary `application/proto`, streams `application/connect+proto`, and their JSON forms). */
export function isConnect(ct: string): boolean {
  return ct === "application/proto" || ct === "application/json" || ct.startsWith("application/connect+");
}

/** Serves one Connect call: a POST (unary or streaming), or the GET form of a unary call. */
export function serveConnect(core: GatewayCore, x: Exchange, cors: Cors): void {
  const get = x.method === "GET" ? parseConnectGet(x.path, core.maxMessageBytes) : undefined;
  const ct =
    get === undefined
      ? ((header(x.headers, "content-type") ?? "").split(";")[0]?.trim() ?? "")
      : "json" in get && get.json
        ? "application/json"
        : "application/proto";
  const stream = ct.startsWith("application/connect+");
  const extra = cors.headers(header(x.headers, "origin"));
  // A unary answer's encoding follows HTTP's accept-encoding: caches must key on it (a GET can be cached).
  if (!stream && compressing(core.compressMinBytes))
    extra.vary = extra.vary === undefined ? "accept-encoding" : `${String(extra.vary)}, accept-encoding`;
  const json = ct === "application/json" || ct === "application/connect+json";
  const accept = header(x.headers, stream ? "connect-accept-encoding" : "accept-encoding");
  const compression = responseCompression(accept, core.compressMinBytes);
  const sink: CallSink & { readonly ended: boolean } = stream
    ? new StreamSink(x, ct, extra, compression)
    : new UnarySink(x, extra, json ? "application/json" : "application/proto", compression);
  if (get !== undefined && !("json" in get)) return sink.end(get.code, get.message, Metadata());
  const crossSite =
    get === undefined ? undefined : cors.getProblem(header(x.headers, "origin"), header(x.headers, "sec-fetch-site"));
  if (crossSite !== undefined) return sink.end(Status.PERMISSION_DENIED, `${crossSite} is refused`, Metadata());
  if (json && core.json === undefined)
    return sink.end(
      Status.UNIMPLEMENTED,
      "this gateway has no schemas for JSON: use Connect's binary format",
      Metadata(),
    );
  if (x.method !== "POST" && get === undefined)
    return sink.end(Status.UNIMPLEMENTED, "Connect calls are POST requests (or GET for unary calls)", Metadata());
  if (get !== undefined && stream)
    return sink.end(Status.UNIMPLEMENTED, "Connect's GET form is for unary calls only", Metadata());
  const encoding =
    get !== undefined
      ? get.compression
      : encodingOf(header(x.headers, stream ? "connect-content-encoding" : "content-encoding"));
  if (typeof encoding === "object") return sink.end(Status.UNIMPLEMENTED, encoding.problem, Metadata());
  let timeoutMs: number | undefined;
  const t = header(x.headers, "connect-timeout-ms");
  if (t !== undefined) {
    if (!/^\d{1,10}$/.test(t))
      return sink.end(Status.INVALID_ARGUMENT, `malformed connect-timeout-ms ${JSON.stringify(t)}`, Metadata());
    timeoutMs = Number(t);
  }
  const c = webCall(core, x, timeoutMs, () => sink.ended);
  if (!("path" in c)) return sink.end(c.code, c.message, Metadata());
  // Connect's unary form is used only for unary methods: the request itself says the kind.
  const call = stream ? c : { ...c, kind: "unary" as const };
  let requests: Requests;
  if (get !== undefined) {
    try {
      requests = requestsOf([
        encoding === undefined ? get.message : inflate(encoding, get.message, core.maxMessageBytes),
      ]);
    } catch (e) {
      const st = statusOf(e);
      return sink.end(st.code, st.message, Metadata());
    }
  } else {
    requests = stream
      ? new BodyReader(x.body, core.maxMessageBytes, encoding)
      : wholeBody(x, core.maxMessageBytes, encoding);
  }
  if (!json) return void core.bridge.run(call, requests, sink);
  void (async () => {
    const codec = await core.json?.codec(call.service);
    if (codec === undefined || !codec.knows(call.path)) {
      return sink.end(
        Status.UNIMPLEMENTED,
        `no schema for ${call.path} on the bus (JSON needs the service's reflection): use Connect's binary format`,
        Metadata(),
      );
    }
    await core.bridge.run(call, jsonRequests(requests, codec, call.path), new JsonSink(sink, codec, call.path));
  })().catch(() => undefined);
}
