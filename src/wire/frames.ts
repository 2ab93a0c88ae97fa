/**
 * Frames of the nats-grpc protocol (Request / Response, see proto/nrpc/nrpc.proto) and the
 * rule that tells a unary JSON request from a frame. Pure: no NATS here.
 */
import { Request, Response, type Status as FrameStatus } from "../../generated/nrpc/nrpc.js";
import { Status } from "../status.js";

export { Request, Response };
export type { FrameStatus };

/** Encodes a client-to-server frame. */
export function encodeRequest(frame: Request): Uint8Array {
  return Request.encode(frame).finish();
}

/** Encodes a server-to-client frame. */
export function encodeResponse(frame: Response): Uint8Array {
  return Response.encode(frame).finish();
}

/** Decodes a client-to-server frame; throws on bytes that are not one. */
export function decodeRequest(bytes: Uint8Array): Request {
  return Request.decode(bytes);
}

/** Decodes a server-to-client frame; throws on bytes that are not one. */
export function decodeResponse(bytes: Uint8Array): Response {
  return Response.decode(bytes);
}

/** The kind of a client-to-server frame, by the oneof member set (the last one wins, as in protobuf). */
export type RequestKind = "call" | "data" | "end" | "window" | "ping" | "none";

export function requestKind(f: Request): RequestKind {
  if (f.ping !== undefined) return "ping";
  if (f.window !== undefined) return "window";
  if (f.end !== undefined) return "end";
  if (f.data !== undefined) return "data";
  if (f.call !== undefined) return "call";
  return "none";
}

/** The kind of a server-to-client frame. */
export type ResponseKind = "accept" | "begin" | "data" | "end" | "window" | "ping" | "none";

export function responseKind(f: Response): ResponseKind {
  if (f.accept !== undefined) return "accept";
  if (f.ping !== undefined) return "ping";
  if (f.window !== undefined) return "window";
  if (f.end !== undefined) return "end";
  if (f.data !== undefined) return "data";
  if (f.begin !== undefined) return "begin";
  return "none";
}

/** A frame status for a code and message (undefined for a plain OK, as the Go library sends it). */
export function frameStatus(code: Status, message: string): FrameStatus | undefined {
  return code === Status.OK && message === "" ? undefined : { code, message, details: [] };
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * True when a header-less payload is a JSON request: its first byte that is not JSON
 * whitespace is `{` (or `[`, a JSON value that is then refused as not an object). No frame of
 * the protocol can start that way (field 1 of Request is unused).
 * An empty payload also counts as JSON (the empty request).
 */
export function looksLikeJson(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (WS.has(b)) continue;
    // "[" would be field 11 starting a group, which no frame has.
    return b === 0x7b || b === 0x5b;
  }
  return true;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * A Data frame carrying `payload`: the same bytes as `Request{data: Data{data}}` and
 * `Response{data: Data{data}}` (field 3, holding field 1), written without a copy through an
 * intermediate writer. It is the frame every streamed message travels in.
 */
export function encodeDataFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  if (n === 0) return new Uint8Array([0x1a, 0x00]);
  const inner = 1 + varintLength(n) + n;
  const out = new Uint8Array(1 + varintLength(inner) + inner);
  out[0] = 0x1a;
  let pos = writeVarint(out, 1, inner);
  out[pos++] = 0x0a;
  pos = writeVarint(out, pos, n);
  out.set(payload, pos);
  return out;
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 5 && pos < buf.length; i++) {
    const b = buf[pos++] as number;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
  return undefined;
}

/**
 * The payload of a frame that is exactly one Data frame (`1a len 0a len payload`, or `1a 00`),
 * as a view without a copy; undefined for any other frame (decode it in full then).
 */
export function dataFramePayload(frame: Uint8Array): Uint8Array | undefined {
  if (frame[0] !== 0x1a) return undefined;
  const outer = readVarint(frame, 1);
  if (outer === undefined || outer[1] + outer[0] !== frame.length) return undefined;
  if (outer[0] === 0) return frame.subarray(frame.length);
  if (frame[outer[1]] !== 0x0a) return undefined;
  const inner = readVarint(frame, outer[1] + 1);
  if (inner === undefined || inner[1] + inner[0] !== frame.length) return undefined;
  return frame.subarray(inner[1]);
}
