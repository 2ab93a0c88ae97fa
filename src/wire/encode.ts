/**
 * Encoding messages without growing a fresh buffer for each: one writer, reused (encoding is
 * synchronous and `finish()` returns a copy), so its buffer grows once to the largest message.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { encodeDataFrame } from "./frames.js";

const shared = new BinaryWriter();

/** What ts-proto generates: `encode(message, writer?)`. Codecs that ignore the writer are handled too. */
interface Encodes {
  encode(message: never, writer?: BinaryWriter): { finish(): Uint8Array };
}

/** The message's bytes. */
export function encodeProto(type: Encodes, message: unknown): Uint8Array {
  return type.encode(message as never, shared).finish();
}

/**
 * A Data frame holding the message (the bytes of encodeDataFrame(encodeProto(...))), written in
 * one pass, and the message's own length.
 */
export function encodeMessageFrame(type: Encodes, message: unknown): { frame: Uint8Array; length: number } {
  const w = shared;
  w.uint32(26).fork(); // Response.data / Request.data: field 3
  w.uint32(10).fork(); // Data.data: field 1
  const r = type.encode(message as never, w);
  if (r !== w) {
    // A codec of its own (it wrote elsewhere): drop what was begun here.
    w.finish();
    const data = r.finish();
    return { frame: encodeDataFrame(data), length: data.length };
  }
  w.join().join();
  const frame = w.finish();
  const length = frameMessageLength(frame);
  // An empty message is an empty Data, as proto3 (and Go) write it: 1a 00.
  return length === 0 ? { frame: encodeDataFrame(frame.subarray(0, 0)), length } : { frame, length };
}

/** The length of the message inside a Data frame written by encodeMessageFrame. */
function frameMessageLength(frame: Uint8Array): number {
  let pos = 1;
  while ((frame[pos] as number) & 0x80) pos++; // outer length
  pos += 2; // its last byte, and the inner tag 0x0a
  if (pos > frame.length) return 0;
  let len = 0;
  let mul = 1;
  for (;;) {
    const b = frame[pos++] as number;
    len += (b & 0x7f) * mul;
    if (b < 0x80) return len;
    mul *= 128;
  }
}
