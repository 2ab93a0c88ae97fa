/**
 * gRPC over HTTP/2 on the gateway's side: the request's headers become the call, its body
 * the request messages; the answer goes back as HTTP/2 headers, length-prefixed messages and
 * trailers (or one trailers-only HEADERS frame), written only as fast as the client reads.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
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
import { framed, messagePrefix } from "./framing.js";
import type { GatewayCore } from "./core.js";
import { encodeGrpcMessage, header, metadataHeaders, nidOf, requestMetadata } from "./headers.js";
import { parseRoute } from "./route.js";

/** Messages up to this size are written with their prefix in one copy; larger ones in two writes. */
const COPY_BELOW = 16 * 1024;
/** The flag of a compressed message. */
const COMPRESSED = 0x01;

/** Resolves when a stream can take more, or is gone. */
export function drained(stream: ServerHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/** The answer of one gRPC call, on its HTTP/2 stream. */
export class GrpcSink implements CallSink {
  private headersSent = false;
  private done = false;
  /** The `grpc-encoding` announced: messages over the threshold go compressed. */
  private encoding: Encoding | undefined;

  /** True once the call's status was sent (or the stream was gone). */
  get ended(): boolean {
    return this.done;
  }

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly contentType: string,
    private readonly compression?: ResponseCompression,
  ) {}

  private get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  header(md: Metadata, firstBytes?: number): void {
    if (this.headersSent || this.done || this.gone) return;
    this.headersSent = true;
    const h = metadataHeaders(md, {
      ":status": 200,
      "content-type": this.contentType,
      "grpc-accept-encoding": ACCEPT_ENCODING,
    });
    const c = this.compression;
    if (c !== undefined && (firstBytes === undefined || firstBytes >= c.minBytes)) {
      this.encoding = c.encoding;
      h["grpc-encoding"] = c.encoding;
    }
    try {
      this.stream.respond(h, { waitForTrailers: true });
    } catch {
      /* the stream went away meanwhile */
    }
  }

  message(bytes: Uint8Array): Promise<void> | undefined {
    if (!this.headersSent) this.header(Metadata());
    if (this.done || this.gone) return undefined;
    if (this.encoding !== undefined && worthCompressing(this.compression, bytes.length)) {
      const c = compress(this.encoding, bytes);
      return c instanceof Promise ? c.then((z) => this.write(z, COMPRESSED)) : this.write(c, COMPRESSED);
    }
    return this.write(bytes, 0);
  }

  private write(bytes: Uint8Array, flags: number): Promise<void> | undefined {
    if (this.done || this.gone) return undefined;
    const s = this.stream;
    let ok: boolean;
    if (bytes.length < COPY_BELOW) {
      ok = s.write(framed(bytes, flags));
    } else {
      s.cork();
      s.write(messagePrefix(bytes.length, flags));
      ok = s.write(bytes);
      s.uncork();
    }
    return ok ? undefined : drained(s);
  }

  end(code: Status, message: string, trailer: Metadata): void {
    if (this.done) return;
    this.done = true;
    if (this.gone) return;
    const t = metadataHeaders(trailer, { "grpc-status": String(code) });
    if (message !== "") t["grpc-message"] = encodeGrpcMessage(message);
    const s = this.stream;
    try {
      if (!this.headersSent) {
        this.headersSent = true;
        s.respond({ ":status": 200, "content-type": this.contentType, ...t }, { endStream: true });
        return;
      }
      s.once("wantTrailers", () => {
        try {
          s.sendTrailers(t);
        } catch {
          /* reset meanwhile */
        }
      });
      s.end();
    } catch {
      /* the stream went away meanwhile */
    }
  }
}

/** Answers a request that is not a call at all with a plain HTTP status. */
export function refuseHttp(
  stream: ServerHttp2Stream,
  status: number,
  text: string,
  extra: OutgoingHttpHeaders = {},
): void {
  try {
    stream.respond({ ":status": status, "content-type": "text/plain; charset=utf-8", ...extra });
    stream.end(`${text}\n`);
  } catch {
    /* gone */
  }
}

/** Serves one gRPC call arriving on `stream`. */
export function serveGrpc(core: GatewayCore, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const ct = header(headers, "content-type") ?? "";
  if (headers[":method"] !== "POST") return refuseHttp(stream, 405, "gRPC calls are POST requests", { allow: "POST" });
  const sink = new GrpcSink(
    stream,
    ct === "application/grpc+proto" ? ct : "application/grpc",
    responseCompression(header(headers, "grpc-accept-encoding"), core.compressMinBytes),
  );
  if (ct !== "application/grpc" && ct !== "application/grpc+proto") {
    return sink.end(
      Status.UNIMPLEMENTED,
      `content type ${JSON.stringify(ct)} is not supported: the gateway carries protobuf (application/grpc or application/grpc+proto)`,
      Metadata(),
    );
  }
  const route = parseRoute(headers[":path"]);
  if (typeof route === "string") return sink.end(Status.UNIMPLEMENTED, route, Metadata());
  const refused = core.admit(route, headers, stream.session?.socket);
  if (refused !== undefined) return sink.end(refused.code, refused.message, Metadata());
  let timeoutMs: number | undefined;
  const t = header(headers, "grpc-timeout");
  if (t !== undefined) {
    timeoutMs = parseTimeout(t);
    if (timeoutMs === undefined)
      return sink.end(Status.INVALID_ARGUMENT, `malformed grpc-timeout ${JSON.stringify(t)}`, Metadata());
  }
  const encoding = encodingOf(header(headers, "grpc-encoding"));
  if (typeof encoding === "object") return sink.end(Status.UNIMPLEMENTED, encoding.problem, Metadata());
  const ac = new AbortController();
  // (server.ts listens for the stream's errors.) Aborting makes an AbortError (a DOMException with its stack): only for calls still going.
  stream.once("close", () => {
    if (!sink.ended) ac.abort();
  });
  const call = {
    path: route.path,
    service: route.service,
    method: route.method,
    nid: nidOf(headers),
    metadata: requestMetadata(headers, core.consumedHeaders),
    timeoutMs,
    signal: ac.signal,
  };
  void core.bridge.run(call, new BodyReader(stream, core.maxMessageBytes, encoding), sink);
}
