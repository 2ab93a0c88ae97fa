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

/** A BinaryReader whose `string()` interns short ASCII strings; for ts-proto's `decode(reader)`. */
export class InterningReader extends BinaryReader {
  /** The reader's bytes (BinaryReader keeps its own copy of the reference private). */
  private readonly input: Uint8Array;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.input = bytes;
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
    const h = Math.imul(len ^ ((buf[from] as number) << 8) ^ ((buf[end - 1] as number) << 16) ^ ((buf[end - 2] as number) << 24) ^ (buf[from + (len >> 1)] as number), 0x9e3779b1);
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

/**
 * Decodes a message. ts-proto's decoders (two parameters) are given an InterningReader; a codec
 * of another kind (one parameter, such as a pass-through of bytes) gets the bytes.
 */
export function decodeProto<T>(type: Decodes<T>, data: Uint8Array): T {
  if (type.decode.length !== 2) return type.decode(data);
  return type.decode(new InterningReader(data) as unknown as Uint8Array);
}
