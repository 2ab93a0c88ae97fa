/**
 * gRPC metadata between HTTP headers and our Metadata: request headers in, response header
 * and trailer metadata out, and the percent-encoding of `grpc-message`.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { Metadata } from "../index.js";

/** The metadata key that sends a call to one node: `nrpc.<nid>.<pkg.Service>.<Method>`. */
export const NID_KEY = "islb-nid";

const KEY = /^[0-9a-z_.-]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Headers of HTTP itself, or of the gateway, that never pass to a service as metadata. */
const HTTP_ONLY = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "connection",
  "keep-alive",
  "host",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "proxy-connection",
  // A browser's own headers: cookies for the gateway's host must never reach a service.
  "cookie",
  "origin",
  "referer",
  "accept",
  "accept-language",
  "cache-control",
  "pragma",
  // The HTTP client of this hop: not the service's business, and without it a plain call
  // needs no NATS headers at all (the transport's fast path).
  "user-agent",
  NID_KEY,
]);

/** Headers of the protocols carried (gRPC-Web, Connect) that are theirs, not the service's. */
function isProtocolKey(key: string): boolean {
  return (
    key.startsWith("grpc-") ||
    key.startsWith("connect-") ||
    key.startsWith("sec-") ||
    key.startsWith("access-control-") ||
    key === "x-grpc-web" ||
    key === "x-user-agent"
  );
}

/**
 * The request metadata of a call: every header but pseudo-headers, HTTP's own, the
 * protocol's and those in `drop` (e.g. `authorization` when the gateway checks it). Keys
 * that gRPC metadata cannot have and text values that are not printable ASCII are left out.
 */
export function requestMetadata(headers: IncomingHttpHeaders, drop?: ReadonlySet<string>): Metadata {
  const md = Metadata();
  for (const key in headers) {
    if (
      key.charCodeAt(0) === 0x3a ||
      HTTP_ONLY.has(key) ||
      isProtocolKey(key) ||
      drop?.has(key) === true ||
      !KEY.test(key)
    )
      continue;
    const v = headers[key];
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    for (const value of values) {
      // Several -bin values may come joined by commas, as gRPC allows.
      if (key.endsWith("-bin"))
        for (const b of value.split(",")) md.append(key, new Uint8Array(Buffer.from(b.trim(), "base64")) as never);
      else if (PRINTABLE.test(value)) md.append(key, value as never);
    }
  }
  return md;
}

/** One header value of a call's node id, if it names one. */
export function nidOf(headers: IncomingHttpHeaders): string | undefined {
  const v = headers[NID_KEY];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === "" ? undefined : s.trim();
}

/** Metadata as HTTP headers (each key under `prefix`), added to `out`. `-bin` values go base64. */
export function metadataHeaders(md: Metadata, out: OutgoingHttpHeaders, prefix = ""): OutgoingHttpHeaders {
  for (const [key, values] of md) {
    if (values.length === 0) continue;
    const texts = values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("base64")));
    out[prefix + key] = texts.length === 1 ? texts[0] : texts;
  }
  return out;
}

/** Percent-encodes a status message as gRPC does for `grpc-message` (the transport's own encoder). */
export { encodeMessage as encodeGrpcMessage } from "../metadata.js";

/** The first value of a header, or undefined. */
export function header(headers: IncomingHttpHeaders, key: string): string | undefined {
  const v = headers[key];
  return Array.isArray(v) ? v[0] : v;
}
