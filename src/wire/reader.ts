/**
 * Decoding messages with short strings interned. The strings of this system repeat without end
 * (services, node ids, data centres, addresses, parameter keys), and decoding each afresh was
 * most of what a client allocated per call. A short ASCII string is looked up by its bytes in a
 * fixed-size table and the string already made is returned; only a miss makes a string.
 */
import { BinaryReader } from "@bufbuild/protobuf/wire";

/** Strings up to this many bytes are interned; longer ones are decoded as usual. */
const MAX_INTERNED = 48;
const SLOT_BITS = 12;
const SLOTS = 1 << SLOT_BITS; // at most SLOTS strings of MAX_INTERNED bytes are held
const table: Array<string | undefined> = new Array<string | undefined>(SLOTS).fill(undefined);
/** One array per length, reused to build a string on a miss. */
const scratch: number[][] = Array.from({ length: MAX_INTERNED + 1 }, (_, n) => new Array<number>(n).fill(0));

/** BinaryReader's own fields, which `reset` sets again (its types keep them private). */
interface ReaderFields {
  buf: Uint8Array;
  len: number;
  pos: number;
}

/**
 * A BinaryReader whose `string()` interns short ASCII strings, for ts-proto's `decode(reader)`.
 * It can be pointed at other bytes (`reset`), so one reader serves every decode, and it makes
 * its DataView only when a fixed-width field needs one.
 */
export class InterningReader extends BinaryReader {
  /** The reader's bytes (BinaryReader keeps its own reference private). */
  private input: Uint8Array;
  private lazyView: DataView | undefined;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.input = bytes;
  }

  /** Reads `bytes` from the start, as a reader made for them would. */
  reset(bytes: Uint8Array): this {
    const f = this as unknown as ReaderFields;
    f.buf = bytes;
    f.len = bytes.length;
    f.pos = 0;
    this.input = bytes;
    this.lazyView = undefined;
    return this;
  }

  override string(strict?: boolean): string {
    const buf = this.input;
    const start = this.pos;
    const len = (buf[start] as number) < 0x80 ? (buf[start] as number) : -1;
    if (len === 0) {
      this.pos = start + 1;
      return "";
    }
    if (len < 0 || len > MAX_INTERNED || start + 1 + len > this.len) return super.string(strict);
    const from = start + 1;
    const end = from + len;
    // The slot, from the length and four of the bytes (ids that differ only in their middle
    // share a slot and take turns in it: a miss, never a wrong string).
    const h = Math.imul(
      len ^
        ((buf[from] as number) << 8) ^
        ((buf[end - 1] as number) << 16) ^
        ((buf[end - 2] as number) << 24) ^
        (buf[from + (len >> 1)] as number),
      0x9e3779b1,
    );
    const slot = h >>> (32 - SLOT_BITS);
    const cached = table[slot];
    if (cached !== undefined && cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === buf[from + i]) i++;
      if (i === len) {
        this.pos = end;
        return cached;
      }
    }
    const codes = scratch[len] as number[];
    for (let i = 0; i < len; i++) {
      const b = buf[from + i] as number;
      if (b > 0x7f) return super.string(strict);
      codes[i] = b;
    }
    this.pos = end;
    const s = String.fromCharCode.apply(null, codes);
    table[slot] = s;
    return s;
  }
}

/** What ts-proto generates: `decode(input: BinaryReader | Uint8Array, length?: number)`. */
interface Decodes<T> {
  decode(input: Uint8Array): T;
}

// BinaryReader reads fixed-width fields through `this.view`: made on first use here.
Object.defineProperty(InterningReader.prototype, "view", {
  get(this: { input: Uint8Array; lazyView: DataView | undefined }): DataView {
    const b = this.input;
    return (this.lazyView ??= new DataView(b.buffer, b.byteOffset, b.byteLength));
  },
  set(this: { lazyView: DataView | undefined }, v: DataView) {
    this.lazyView = v;
  },
});

const EMPTY = new Uint8Array(0);
const shared = new InterningReader(EMPTY);

/** True when `reset` works with this version of BinaryReader (its fields are where we set them). */
function resetWorks(): boolean {
  try {
    const r = new InterningReader(new Uint8Array([0x0a, 0x01, 0x61])).reset(
      new Uint8Array([0x12, 0x02, 0x68, 0x69, 0x25, 1, 0, 0, 0]),
    );
    return r.uint32() === 0x12 && r.string() === "hi" && r.uint32() === 0x25 && r.fixed32() === 1 && r.pos === r.len;
  } catch {
    return false;
  }
}
const reuse = resetWorks();

/** Whether one reader is reused for every decode (false: this BinaryReader's fields moved). */
export function reusesReader(): boolean {
  return reuse;
}

/**
 * Decodes a message. ts-proto's decoders (two parameters) are given the shared InterningReader
 * (decoding is synchronous and runs no other code, so one reader is enough); a codec of another
 * kind (one parameter, such as a pass-through of bytes) gets the bytes.
 */
export function decodeProto<T>(type: Decodes<T>, data: Uint8Array): T {
  if (type.decode.length !== 2) return type.decode(data);
  if (!reuse) return type.decode(new InterningReader(data) as unknown as Uint8Array);
  try {
    return type.decode(shared.reset(data) as unknown as Uint8Array);
  } finally {
    shared.reset(EMPTY); // holds on to no received bytes
  }
}
