/**
 * Encoding messages without growing a fresh buffer for each, and without copying a message
 * that is already whole. One writer, reused (encoding is synchronous and `finish()` returns a
 * copy), so its buffer grows once to the largest message.
 *
 * A message is first encoded as it was given, by a writer that refuses any value of the wrong
 * type (a missing string, bool, double or 64-bit field): a whole message, which handlers and
 * callers usually give, encodes with no copy. Anything else (a partial message, a null, a
 * missing map or list) stops that attempt, and the message is encoded as `fromPartial` fills
 * it in: the bytes are those of `encode(fromPartial(m))` either way.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { encodeDataFrame } from "./frames.js";

/** Thrown (not an Error: no stack to capture) when a value is not of its field's type. */
const PARTIAL = Symbol("partial message");

/**
 * A writer that, while `strict`, throws PARTIAL where BinaryWriter would coerce undefined or
 * null into bytes; not strict, it is BinaryWriter (for messages fromPartial filled in, which
 * may hold values of other types that BinaryWriter coerces, as ts-proto always did).
 */
class StrictWriter extends BinaryWriter {
  strict = true;

  override string(value: string): this {
    if (this.strict && typeof value !== "string") throw PARTIAL;
    return super.string(value);
  }
  override bool(value: boolean): this {
    if (this.strict && typeof value !== "boolean") throw PARTIAL;
    return super.bool(value);
  }
  override double(value: number): this {
    if (this.strict && typeof value !== "number") throw PARTIAL;
    return super.double(value);
  }
  override int64(value: bigint | string | number): this {
    return super.int64(this.int64Like(value));
  }
  override uint64(value: bigint | string | number): this {
    return super.uint64(this.int64Like(value));
  }
  override sint64(value: bigint | string | number): this {
    return super.sint64(this.int64Like(value));
  }
  override fixed64(value: bigint | string | number): this {
    return super.fixed64(this.int64Like(value));
  }
  override sfixed64(value: bigint | string | number): this {
    return super.sfixed64(this.int64Like(value));
  }

  private int64Like<T>(value: T): T {
    const t = typeof value;
    if (this.strict && t !== "number" && t !== "bigint" && t !== "string") throw PARTIAL;
    return value;
  }
}

const shared = new StrictWriter();

/** What ts-proto generates: `encode(message, writer?)` and `fromPartial(object)`. */
interface Encodes {
  encode(message: never, writer?: BinaryWriter): { finish(): Uint8Array };
  fromPartial(object: never): unknown;
}

/** Codecs whose last messages came partial: encodes left before trying a message as given again. */
const partialRuns = new WeakMap<Encodes, number>();
const RETRY_AFTER = 64;

/**
 * Encodes `message` after `begin` wrote into `w`, as given when it is whole, else filled in.
 * Returns what the codec wrote into: `w`, or a writer of its own for a codec that ignores `w`.
 */
function encodeInto(
  type: Encodes,
  message: unknown,
  w: StrictWriter,
  begin: (w: StrictWriter) => void,
): { finish(): Uint8Array } {
  begin(w);
  const skip = partialRuns.get(type);
  if (skip === undefined || skip <= 0) {
    try {
      return type.encode(message as never, w);
    } catch {
      // Partial (a missing field stopped the writer, or a missing list or map threw a TypeError).
      w.finish(); // drop what the attempt wrote, and its open forks
      begin(w);
      partialRuns.set(type, RETRY_AFTER);
    }
  } else {
    partialRuns.set(type, skip - 1);
  }
  w.strict = false;
  try {
    return type.encode(type.fromPartial(message as never) as never, w);
  } catch (e) {
    w.finish(); // an invalid value: leave nothing half-written for the next message
    throw e;
  } finally {
    w.strict = true;
  }
}

const nothing = (): void => {};

/** The message's bytes: those of `encode(fromPartial(message))`. */
export function encodeProto(type: Encodes, message: unknown): Uint8Array {
  return encodeInto(type, message, shared, nothing).finish();
}

const beginFrame = (w: StrictWriter): void => {
  w.uint32(26).fork(); // Response.data / Request.data: field 3
  w.uint32(10).fork(); // Data.data: field 1
};

/**
 * A Data frame holding the message (the bytes of encodeDataFrame(encodeProto(...))), written in
 * one pass, and the message's own length.
 */
export function encodeMessageFrame(type: Encodes, message: unknown): { frame: Uint8Array; length: number } {
  const w = shared;
  const r = encodeInto(type, message, w, beginFrame);
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
