/**
 * The headers of a unary request whose only metadata is its deadline, on both sides of the
 * fast path: the client sends them encoded once per timeout value (a deadline given as a
 * number of ms is the same every call), and the server reads the timeout from the header
 * block's bytes, without parsing the headers, when the block is exactly those headers.
 */
import type { MsgHdrs } from "nats";
import { CONTENT_TYPE, H, constantHeaders } from "../metadata.js";

const encoder = new TextEncoder();
const block = (timeout: string): Uint8Array =>
  (
    constantHeaders({ [H.contentType]: CONTENT_TYPE.proto, [H.timeout]: timeout }) as unknown as {
      encode(): Uint8Array;
    }
  ).encode();
/** The header block up to the timeout's value, and after it. */
const MARK = "0S";
const [HEAD, TAIL] = (() => {
  const whole = block(MARK);
  const text = new TextDecoder().decode(whole);
  const at = text.indexOf(`${H.timeout}: ${MARK}`) + `${H.timeout}: `.length;
  return [encoder.encode(text.slice(0, at)), encoder.encode(text.slice(at + MARK.length))];
})();

/** Timeout values whose headers were encoded, at most CACHED (then it starts again). */
const CACHED = 256;
const cache = new Map<string, MsgHdrs>();

/** The request headers for a binary request with no metadata and this `grpc-timeout` value. Never mutate them. */
export function deadlineRequestHeaders(timeout: string): MsgHdrs {
  let h = cache.get(timeout);
  if (h === undefined) {
    if (cache.size >= CACHED) cache.clear();
    h = constantHeaders({ [H.contentType]: CONTENT_TYPE.proto, [H.timeout]: timeout });
    cache.set(timeout, h);
  }
  return h;
}

/** ms per unit of `grpc-timeout`, by the unit's character code. */
const UNIT_MS = new Map<number, number>([
  [0x48, 3_600_000], // H
  [0x4d, 60_000], // M
  [0x53, 1000], // S
  [0x6d, 1], // m
  [0x75, 1e-3], // u
  [0x6e, 1e-6], // n
]);

interface RawMsg {
  _msg?: { hdr?: unknown };
  _rdata?: unknown;
}

/**
 * The deadline, in ms, of a request whose headers are exactly a binary content type and a
 * well-formed `grpc-timeout` (as `deadlineRequestHeaders` makes them); undefined for any other
 * header block (the general path then parses it, and reports a malformed timeout). Reads
 * nats.js internals defensively, as wire/raw-msg.ts does.
 */
export function plainDeadlineMs(msg: unknown): number | undefined {
  const m = msg as RawMsg;
  const len = m._msg?.hdr;
  const data = m._rdata;
  if (typeof len !== "number" || !(data instanceof Uint8Array) || len > data.length) return undefined;
  const head = HEAD.length;
  const tail = TAIL.length;
  const digits = len - head - tail - 1;
  if (digits < 1 || digits > 8) return undefined;
  for (let i = 0; i < head; i++) if (data[i] !== HEAD[i]) return undefined;
  for (let i = 0; i < tail; i++) if (data[len - tail + i] !== TAIL[i]) return undefined;
  let value = 0;
  for (let i = head; i < head + digits; i++) {
    const d = (data[i] as number) - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  const unit = UNIT_MS.get(data[head + digits] as number);
  return unit === undefined ? undefined : value * unit;
}
