/**
 * gRPC-Web (binary and base64 "text"): gRPC's messages in an ordinary HTTP response, the
 * status and trailers in a last frame flagged 0x80, so browsers and HTTP/1.1 can carry it.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { Transform, type Readable } from "node:stream";
import { Metadata, Status, parseTimeout } from "../index.js";
import { BodyReader } from "./body-reader.js";
import {
  ACCEPT_ENCODING,
  compress,
  encodingOf,
  responseCompression,
  worthCompressing,
  type Encoding,
  type ResponseCompression,
} from "./compression.js";
import type { CallSink } from "./bridge.js";
import type { GatewayCore } from "./core.js";
import type { Exchange } from "./exchange.js";
import { framed } from "./framing.js";
import { encodeGrpcMessage, header, metadataHeaders } from "./headers.js";
import { webCall, type Cors } from "./web-call.js";

const TRAILER_FLAG = 0x80;
const COMPRESSED = 0x01;

/** Decodes base64 as it streams in; each part may carry its own padding. */
function base64Decoder(): Transform {
  let rest = "";
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const s = rest + chunk.toString("latin1").replace(/\s+/g, "");
      const whole = s.length - (s.length % 4);
      rest = s.slice(whole);
      const out: Buffer[] = [];
      // A quantum with padding ends a part: decode up to and including it, then go on.
      for (const part of s.slice(0, whole).split(/(?<==)(?=[^=])/)) out.push(Buffer.from(part, "base64"));
      done(null, Buffer.concat(out));
    },
    flush(done) {
      done(rest === "" ? null : new Error("truncated base64"));
    },
  });
}

/** The answer of one gRPC-Web call: messages, then the trailer frame (base64 in text mode). */
export class GrpcWebSink implements CallSink {
  private done = false;
  /** The `grpc-encoding` announced: messages over the threshold go compressed. */
  private encoding: Encoding | undefined;

  /** True once the call's status was sent. */
  get ended(): boolean {
    return this.done;
  }

  constructor(
    private readonly x: Exchange,
    private readonly contentType: string,
    private readonly text: boolean,
    private readonly extra: OutgoingHttpHeaders,
    private readonly compression?: ResponseCompression,
  ) {}

  private out(b: Buffer): Buffer {
    return this.text ? Buffer.from(b.toString("base64"), "latin1") : b;
  }

  header(md: Metadata, firstBytes?: number): void {
    if (this.x.responded) return;
    const h = metadataHeaders(md, {
      "content-type": this.contentType,
      "grpc-accept-encoding": ACCEPT_ENCODING,
      ...this.extra,
    });
    const c = this.compression;
    if (c !== undefined && (firstBytes === undefined || firstBytes >= c.minBytes)) {
      this.encoding = c.encoding;
      h["grpc-encoding"] = c.encoding;
    }
    this.x.respond(200, h);
  }

  message(bytes: Uint8Array): Promise<void> | undefined {
    if (!this.x.responded) this.header(Metadata());
    if (this.done) return undefined;
    if (this.encoding !== undefined && worthCompressing(this.compression, bytes.length)) {
      const c = compress(this.encoding, bytes);
      const send = (z: Uint8Array): Promise<void> | undefined =>
        this.done ? undefined : this.x.write(this.out(framed(z, COMPRESSED)));
      return c instanceof Promise ? c.then(send) : send(c);
    }
    return this.x.write(this.out(framed(bytes)));
  }

  end(code: Status, message: string, trailer: Metadata): void {
    if (this.done) return;
    this.done = true;
    if (!this.x.responded) this.header(Metadata());
    let block = `grpc-status:${code}\r\n`;
    if (message !== "") block += `grpc-message:${encodeGrpcMessage(message)}\r\n`;
    for (const [k, v] of Object.entries(metadataHeaders(trailer, {})))
      for (const one of Array.isArray(v) ? v : [v]) block += `${k}:${String(one)}\r\n`;
    this.x.end(this.out(framed(Buffer.from(block, "latin1"), TRAILER_FLAG)));
  }
}

/** Serves one gRPC-Web call. */
export function serveGrpcWeb(core: GatewayCore, x: Exchange, cors: Cors): void {
  const ct = header(x.headers, "content-type") ?? "";
  const text = ct.startsWith("application/grpc-web-text");
  const base = text ? "application/grpc-web-text" : "application/grpc-web";
  const sink = new GrpcWebSink(
    x,
    ct === `${base}+proto` ? ct : base,
    text,
    cors.headers(header(x.headers, "origin")),
    responseCompression(header(x.headers, "grpc-accept-encoding"), core.compressMinBytes),
  );
  if (x.method !== "POST") return sink.end(Status.UNIMPLEMENTED, "gRPC-Web calls are POST requests", Metadata());
  if (ct !== base && ct !== `${base}+proto`)
    return sink.end(
      Status.UNIMPLEMENTED,
      `content type ${JSON.stringify(ct)} is not supported: the gateway carries protobuf`,
      Metadata(),
    );
  let timeoutMs: number | undefined;
  const t = header(x.headers, "grpc-timeout");
  if (t !== undefined) {
    timeoutMs = parseTimeout(t);
    if (timeoutMs === undefined)
      return sink.end(Status.INVALID_ARGUMENT, `malformed grpc-timeout ${JSON.stringify(t)}`, Metadata());
  }
  const encoding = encodingOf(header(x.headers, "grpc-encoding"));
  if (typeof encoding === "object") return sink.end(Status.UNIMPLEMENTED, encoding.problem, Metadata());
  const call = webCall(core, x, timeoutMs, () => sink.ended);
  if (!("path" in call)) return sink.end(call.code, call.message, Metadata());
  const body: Readable = text ? x.body.pipe(base64Decoder()) : x.body;
  void core.bridge.run(call, new BodyReader(body, core.maxMessageBytes, encoding), sink);
}
