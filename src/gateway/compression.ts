/**
 * Compression of messages, as gRPC, gRPC-Web and Connect clients negotiate it. Requests may
 * come compressed (gzip, deflate): inflated with a cap on the output, so a small bomb cannot
 * become a large message. Responses are compressed with what the client accepts (gzip
 * first, then deflate), message by message, when a message is at least the threshold (1 KiB by
 * default): smaller ones gain little and cost CPU.
 */
import { deflate as deflateAsync, deflateSync, gunzipSync, gzip as gzipAsync, gzipSync, inflateSync } from "node:zlib";
import { Status } from "../index.js";
import { FramingError } from "./framing.js";

/** What the gateway can inflate, as it advertises it (`grpc-accept-encoding`). */
export const ACCEPT_ENCODING = "identity,gzip,deflate";

/** Responses of at least this many bytes are compressed when the client accepts it (default of `compressMinBytes`). */
export const COMPRESS_MIN_BYTES = 1024;

/** Messages above this are compressed on libuv's thread pool, not on the event loop. */
const ASYNC_ABOVE = 64 * 1024;

/** The compressions a request may use. */
export type Encoding = "gzip" | "deflate";

/** The encoding a request names, or a reason it cannot be read; undefined means identity. */
export function encodingOf(value: string | undefined): Encoding | undefined | { problem: string } {
  if (value === undefined || value === "" || value === "identity") return undefined;
  if (value === "gzip" || value === "deflate") return value;
  return {
    problem: `message encoding ${JSON.stringify(value)} is not supported (the gateway takes ${ACCEPT_ENCODING})`,
  };
}

/**
 * The encoding to answer with, from an accept header (`grpc-accept-encoding`,
 * `connect-accept-encoding`, `accept-encoding`: comma-separated, HTTP's `;q=0` refuses one):
 * gzip if accepted, else deflate, else none (identity).
 */
export function acceptedEncoding(accept: string | undefined): Encoding | undefined {
  if (accept === undefined || accept === "") return undefined;
  let deflate = false;
  for (const part of accept.split(",")) {
    const semi = part.indexOf(";");
    const name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (semi >= 0 && /^\s*q\s*=\s*0(\.0*)?\s*$/.test(part.slice(semi + 1))) continue;
    if (name === "gzip") return "gzip";
    if (name === "deflate") deflate = true;
  }
  return deflate ? "deflate" : undefined;
}

/** How a call's responses are compressed: the encoding the client accepts and the threshold. */
export interface ResponseCompression {
  readonly encoding: Encoding;
  readonly minBytes: number;
}

/** The last accept header read and its answer: a client sends the same one on every call. */
let lastAccept: string | undefined;
let lastMin: number | undefined;
let lastAnswer: ResponseCompression | undefined;

/** True when a gateway with this threshold compresses responses at all (a negative one turns it off). */
export function compressing(minBytes: number | undefined): minBytes is number {
  return minBytes !== undefined && Number.isFinite(minBytes) && minBytes >= 0;
}

/** The response compression of a call, or undefined when its responses go as they are. */
export function responseCompression(
  accept: string | undefined,
  minBytes: number | undefined,
): ResponseCompression | undefined {
  if (!compressing(minBytes) || accept === undefined) return undefined;
  if (accept === lastAccept && minBytes === lastMin) return lastAnswer;
  const encoding = acceptedEncoding(accept);
  lastAnswer = encoding === undefined ? undefined : Object.freeze({ encoding, minBytes });
  lastAccept = accept;
  lastMin = minBytes;
  return lastAnswer;
}

/** True when a message of `length` bytes is compressed under `c`. */
export function worthCompressing(c: ResponseCompression | undefined, length: number): c is ResponseCompression {
  return c !== undefined && length >= c.minBytes;
}

/** Compresses one message: at once when small, on the thread pool when large. */
export function compress(encoding: Encoding, message: Uint8Array): Uint8Array | Promise<Uint8Array> {
  if (message.length <= ASYNC_ABOVE) return (encoding === "gzip" ? gzipSync : deflateSync)(message);
  return new Promise((resolve, reject) =>
    (encoding === "gzip" ? gzipAsync : deflateAsync)(message, (e, out) => (e === null ? resolve(out) : reject(e))),
  );
}

/** Inflates one message, refusing one that would be over `max` bytes. */
export function inflate(encoding: Encoding | undefined, message: Uint8Array, max: number): Uint8Array {
  if (encoding === undefined)
    throw new FramingError(Status.INTERNAL, "a compressed message in a request that names no encoding (grpc-encoding)");
  try {
    return (encoding === "gzip" ? gunzipSync : inflateSync)(message, { maxOutputLength: max });
  } catch (e) {
    if (e instanceof RangeError || (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new FramingError(
        Status.RESOURCE_EXHAUSTED,
        `a compressed request message inflates to more than ${max} bytes`,
      );
    }
    throw new FramingError(Status.INTERNAL, `cannot inflate a ${encoding} request message: ${(e as Error).message}`);
  }
}
