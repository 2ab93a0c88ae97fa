/**
 * The length-prefixed messages of gRPC, gRPC-Web and Connect streams: a flags byte, a
 * 4-byte big-endian length, the message. Parsed from the chunks a body arrives in, without
 * copying a message that lies whole in one chunk, and refusing any longer than the limit.
 */
import { Status } from "../index.js";

/** Bytes before each message. */
export const PREFIX_BYTES = 5;

/** A body that is not a valid sequence of messages: the call ends with `code`. */
export class FramingError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
    this.name = "FramingError";
  }
}

/** The 5-byte prefix of a message of `length` bytes. */
export function messagePrefix(length: number, flags = 0): Buffer {
  const b = Buffer.allocUnsafe(PREFIX_BYTES);
  b[0] = flags;
  b.writeUInt32BE(length, 1);
  return b;
}

/** A message with its prefix, in one buffer (a copy: for small messages and for bodies sent whole). */
export function framed(message: Uint8Array, flags = 0): Buffer {
  const b = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  b[0] = flags;
  b.writeUInt32BE(message.length, 1);
  b.set(message, PREFIX_BYTES);
  return b;
}

/** Splits a body into messages as its chunks arrive. */
export class MessageParser {
  private readonly header = Buffer.alloc(PREFIX_BYTES);
  private headerBytes = 0;
  /** Length of the message being read; -1 while reading a prefix. */
  private need = -1;
  private flags = 0;
  private parts: Uint8Array[] = [];
  private got = 0;

  /**
   * @param max the largest message accepted, in bytes
   * @param onMessage called with each whole message and its flags byte
   */
  constructor(
    private readonly max: number,
    private readonly onMessage: (flags: number, message: Uint8Array) => void,
  ) {}

  /** True when the body so far ends inside a message (a body ending here is truncated). */
  get partial(): boolean {
    return this.headerBytes > 0 || this.need >= 0;
  }

  /** Bytes of the message being read, received so far (bounded by `max`). */
  get buffered(): number {
    return this.got;
  }

  /** Takes the next chunk of the body; throws FramingError on a message over the limit. */
  push(chunk: Uint8Array): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.need < 0) {
        if (this.headerBytes === 0 && n - off >= PREFIX_BYTES) {
          this.flags = chunk[off] as number;
          this.begin(
            (chunk[off + 1] as number) * 0x1000000 +
              (((chunk[off + 2] as number) << 16) | ((chunk[off + 3] as number) << 8) | (chunk[off + 4] as number)),
          );
          off += PREFIX_BYTES;
        } else {
          const take = Math.min(PREFIX_BYTES - this.headerBytes, n - off);
          this.header.set(chunk.subarray(off, off + take), this.headerBytes);
          this.headerBytes += take;
          off += take;
          if (this.headerBytes === PREFIX_BYTES) {
            this.headerBytes = 0;
            this.flags = this.header[0] as number;
            this.begin(this.header.readUInt32BE(1));
          }
        }
        continue;
      }
      const take = Math.min(this.need - this.got, n - off);
      if (this.got === 0 && take === this.need) {
        this.emit(chunk.subarray(off, off + take));
      } else {
        this.parts.push(chunk.subarray(off, off + take));
        this.got += take;
        if (this.got === this.need) {
          const whole = Buffer.concat(this.parts, this.need);
          this.parts = [];
          this.got = 0;
          this.emit(whole);
        }
      }
      off += take;
    }
  }

  private begin(length: number): void {
    if (length > this.max)
      throw new FramingError(
        Status.RESOURCE_EXHAUSTED,
        `request message of ${length} bytes is over the limit of ${this.max}`,
      );
    this.need = length;
    if (length === 0) this.emit(new Uint8Array(0));
  }

  private emit(message: Uint8Array): void {
    const flags = this.flags;
    this.need = -1;
    this.onMessage(flags, message);
  }
}
