/** Gob's primitive encodings: unsigned and signed integers, floats, strings. */
import { GobError } from "./types.js";

/** Integers beyond 2^53 come back as bigint. */
export type GoInt = number | bigint;

const big = (n: bigint): GoInt =>
  n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;

export class Writer {
  private buf = new Uint8Array(256);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  get length(): number {
    return this.pos;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  uint(v: GoInt): void {
    let n = BigInt(v);
    if (n < 0n) throw new GobError(`uint ${v} is negative`);
    if (n < 128n) {
      this.room(1);
      this.buf[this.pos++] = Number(n);
      return;
    }
    const bytes: number[] = [];
    while (n > 0n) {
      bytes.unshift(Number(n & 0xffn));
      n >>= 8n;
    }
    this.room(bytes.length + 1);
    this.buf[this.pos++] = 256 - bytes.length;
    for (const b of bytes) this.buf[this.pos++] = b;
  }

  int(v: GoInt): void {
    const n = BigInt(v);
    this.uint(n < 0n ? ((-n - 1n) << 1n) | 1n : n << 1n);
  }

  float(v: number): void {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, v, true); // little-endian bytes = the bits with their byte order reversed
    this.uint(dv.getBigUint64(0, false));
  }

  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.uint(b.length);
    this.raw(b);
  }
}

export class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    /** Where the current message ends. */
    public end = buf.length,
  ) {}

  private byte(): number {
    if (this.pos >= this.end) throw new GobError("truncated: read past the end of a message");
    return this.buf[this.pos++] as number;
  }

  uintBig(): bigint {
    const b = this.byte();
    if (b < 128) return BigInt(b);
    const n = 256 - b;
    if (n > 8) throw new GobError(`bad uint: a length of ${n} bytes`);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.byte());
    return v;
  }

  uint(): GoInt {
    return big(this.uintBig());
  }

  /** A uint that is a length or count: must fit in what is left of the message. */
  count(what: string): number {
    const v = this.uintBig();
    if (v > BigInt(this.end - this.pos))
      throw new GobError(`${what} of ${v} is larger than the ${this.end - this.pos} bytes left`);
    return Number(v);
  }

  int(): GoInt {
    const u = this.uintBig();
    return big(u & 1n ? -((u >> 1n) + 1n) : u >> 1n);
  }

  smallInt(what: string): number {
    const v = this.int();
    if (typeof v !== "number") throw new GobError(`${what} ${v} is out of range`);
    return v;
  }

  float(): number {
    const bits = this.uintBig();
    const dv = new DataView(new ArrayBuffer(8));
    dv.setBigUint64(0, bits, false);
    return dv.getFloat64(0, true);
  }

  bytes(): Uint8Array {
    const n = this.count("a byte string length");
    const b = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    return new TextDecoder("utf-8").decode(this.bytes());
  }
}
