/**
 * Decodes one gob stream (what one fresh Go gob.Encoder wrote): type definitions first, each
 * message defining its own ids, then one value. Generic: ids are never assumed. Bounded: counts
 * and lengths must fit in the bytes left, nesting is limited, the values built (zero values of
 * fields not sent included) are limited by the stream's size, and anything malformed is a
 * GobError (never a crash, never a prototype reached from the wire).
 */
import { GobError, ID, struct, type GoAny } from "./types.js";
import { Reader } from "./wire.js";

/** A type defined on the wire. */
export type WireDef =
  | { kind: "struct"; name: string; fields: Array<{ name: string; id: number }> }
  | { kind: "slice"; name: string; elem: number }
  | { kind: "map"; name: string; key: number; elem: number }
  | { kind: "array"; name: string; elem: number; len: number };

export interface Decoded {
  /** The id of the value's type, as this stream numbered it. */
  typeId: number;
  /** Its name as defined on the wire ("" for a predefined type). */
  typeName: string;
  value: unknown;
  /** The definitions the stream carried. */
  types: Map<number, WireDef>;
}

const MAX_DEPTH = 32;

/**
 * How many values (struct, map, slice, element, field, zero value) one stream may build. Counts
 * and lengths alone do not bound the work: a struct field that is not sent costs no byte but
 * still gets its zero value, and a chain of struct types a few bytes each whose fields are all
 * of the next type has a zero value of 2^depth objects (1 KB of definitions asked for 2^30).
 * Sent values cost at least a byte each; the messages captured from Go's nats-discovery build
 * under 0.1 value per byte (their definitions alone are ~250 bytes), so 2 per byte leaves them
 * twenty times the room. The cap keeps the costliest message to some 10-30 ms of decoding on a
 * busy 2-core machine: at 131,072 values, 9 KB streams sent 20 times a second took 105-230 ms
 * each and delayed FindNode by seconds.
 */
export const VALUES_PER_BYTE = 2;
export const MIN_VALUES = 1024;
export const MAX_VALUES = 1 << 14;

/** The values a stream of `bytes` bytes may build. */
export const valueBudget = (bytes: number): number => Math.min(MAX_VALUES, MIN_VALUES + VALUES_PER_BYTE * bytes);

class StreamDecoder {
  readonly types = new Map<number, WireDef>();
  private left: number;
  constructor(private readonly r: Reader) {
    this.left = valueBudget(r.buf.length);
  }

  /** Counts one value built against the stream's budget. */
  private spend(): void {
    if (--this.left < 0)
      throw new GobError(
        `the value is too large: a stream of ${this.r.buf.length} bytes may build ${valueBudget(this.r.buf.length)} values (zero values of nested structs included)`,
      );
  }

  /** Starts the next message: sets the reader's end to it. */
  nextMessage(): void {
    const r = this.r;
    r.end = r.buf.length;
    const len = r.count("a message length");
    if (len === 0) throw new GobError("empty message");
    r.end = r.pos + len;
  }

  /** Reads struct fields by delta until the 0 that ends the struct. */
  private fields(each: (field: number) => void): void {
    let field = -1;
    for (;;) {
      const delta = this.r.uint();
      if (delta === 0) return;
      if (typeof delta !== "number" || delta > 1_000_000) throw new GobError(`bad field delta ${delta}`);
      field += delta;
      each(field);
    }
  }

  private common(): { name: string; id: number } {
    let name = "";
    let id = 0;
    this.fields((f) => {
      if (f === 0) name = this.r.string();
      else if (f === 1) id = this.r.smallInt("type id");
      else throw new GobError(`CommonType has no field ${f}`);
    });
    return { name, id };
  }

  /** A wireType value defining `id`. */
  definition(id: number): void {
    if (id < 65 && id !== 0) throw new GobError(`type id ${id} is reserved`);
    let def: WireDef | undefined;
    this.fields((f) => {
      switch (f) {
        case 0: {
          let c = { name: "", id: 0 };
          let elem = 0;
          let len = 0;
          this.fields((g) => {
            if (g === 0) c = this.common();
            else if (g === 1) elem = this.r.smallInt("element type");
            else if (g === 2) len = this.r.smallInt("array length");
            else throw new GobError(`arrayType has no field ${g}`);
          });
          def = { kind: "array", name: c.name, elem, len };
          break;
        }
        case 1: {
          let c = { name: "", id: 0 };
          let elem = 0;
          this.fields((g) => {
            if (g === 0) c = this.common();
            else if (g === 1) elem = this.r.smallInt("element type");
            else throw new GobError(`sliceType has no field ${g}`);
          });
          def = { kind: "slice", name: c.name, elem };
          break;
        }
        case 2: {
          let c = { name: "", id: 0 };
          const fields: Array<{ name: string; id: number }> = [];
          this.fields((g) => {
            if (g === 0) c = this.common();
            else if (g === 1) {
              const n = this.r.count("a field count");
              for (let i = 0; i < n; i++) {
                let name = "";
                let fid = 0;
                this.fields((h) => {
                  if (h === 0) name = this.r.string();
                  else if (h === 1) fid = this.r.smallInt("field type");
                  else throw new GobError(`fieldType has no field ${h}`);
                });
                fields.push({ name, id: fid });
              }
            } else throw new GobError(`structType has no field ${g}`);
          });
          def = { kind: "struct", name: c.name, fields };
          break;
        }
        case 3: {
          let c = { name: "", id: 0 };
          let key = 0;
          let elem = 0;
          this.fields((g) => {
            if (g === 0) c = this.common();
            else if (g === 1) key = this.r.smallInt("key type");
            else if (g === 2) elem = this.r.smallInt("element type");
            else throw new GobError(`mapType has no field ${g}`);
          });
          def = { kind: "map", name: c.name, key, elem };
          break;
        }
        default:
          throw new GobError(`wire type kind ${f} (GobEncoder, BinaryMarshaler, TextMarshaler) is not supported`);
      }
    });
    if (def === undefined) throw new GobError(`empty definition of type ${id}`);
    this.types.set(id, def);
  }

  private def(id: number): WireDef {
    const d = this.types.get(id);
    if (d === undefined) throw new GobError(`type id ${id} is not defined in this stream`);
    return d;
  }

  zero(id: number, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new GobError("types nest too deeply");
    this.spend();
    switch (id) {
      case ID.bool:
        return false;
      case ID.int:
      case ID.uint:
      case ID.float:
        return 0;
      case ID.bytes:
        return new Uint8Array(0);
      case ID.string:
        return "";
      case ID.interface:
        return null;
    }
    const d = this.def(id);
    if (d.kind === "struct") return struct(d.fields.map((f) => [f.name, this.zero(f.id, depth + 1)]));
    return d.kind === "array" ? [] : null;
  }

  value(id: number, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new GobError("values nest too deeply");
    this.spend();
    const r = this.r;
    switch (id) {
      case ID.bool:
        return r.uint() !== 0;
      case ID.int:
        return r.int();
      case ID.uint:
        return r.uint();
      case ID.float:
        return r.float();
      case ID.bytes:
        return r.bytes();
      case ID.string:
        return r.string();
      case ID.interface:
        return this.iface(depth);
      case ID.complex:
        throw new GobError("complex numbers are not supported");
    }
    const d = this.def(id);
    switch (d.kind) {
      case "struct": {
        // Fields sent first, then zero values only for those not sent (never built to be replaced).
        const sent = new Map<number, unknown>();
        this.fields((f) => {
          const fd = d.fields[f];
          if (fd === undefined) throw new GobError(`struct ${d.name || id} has no field ${f}`);
          sent.set(f, this.value(fd.id, depth + 1));
        });
        return struct(d.fields.map((fd, i) => [fd.name, sent.has(i) ? sent.get(i) : this.zero(fd.id, depth + 1)]));
      }
      case "slice":
      case "array": {
        const n = r.count("an element count");
        if (d.kind === "array" && n !== d.len) throw new GobError(`array of ${d.len} holds ${n} elements`);
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(d.elem, depth + 1));
        return out;
      }
      case "map": {
        const n = r.count("an entry count");
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = this.value(d.key, depth + 1);
          out.set(k, this.value(d.elem, depth + 1));
        }
        return out;
      }
    }
  }

  /** An interface{}: its concrete type's name and id (definitions may come first, even in the next message), then its value. */
  private iface(depth: number): GoAny | null {
    const r = this.r;
    const name = r.string();
    if (name === "") return null;
    let id: number;
    for (;;) {
      if (r.pos === r.end && r.end < r.buf.length) this.nextMessage();
      id = r.smallInt("type id");
      if (id >= 0) break;
      this.definition(-id);
    }
    const n = r.count("an interface value length");
    const end = r.pos + n;
    const d = this.types.get(id);
    let value: unknown;
    if (d?.kind === "struct") value = this.value(id, depth + 1);
    else {
      if (r.uint() !== 0) throw new GobError("an interface value must start with 0");
      value = this.value(id, depth + 1);
    }
    if (r.pos !== end) throw new GobError(`interface value of ${name} has ${n} bytes, used ${r.pos - (end - n)}`);
    return { type: name, value };
  }

  /** Definitions, then the value: the whole stream. */
  stream(): Decoded {
    const r = this.r;
    for (;;) {
      if (r.pos >= r.buf.length) throw new GobError("the stream ends before its value");
      this.nextMessage();
      const id = r.smallInt("type id");
      if (id < 0) {
        this.definition(-id);
        if (r.pos !== r.end) throw new GobError(`definition of type ${-id} has ${r.end - r.pos} bytes left over`);
        continue;
      }
      const d = this.types.get(id);
      let value: unknown;
      if (d?.kind === "struct") value = this.value(id, 0);
      else {
        if (r.uint() !== 0) throw new GobError("a value that is not a struct must start with 0");
        value = this.value(id, 0);
      }
      if (r.pos !== r.end || r.end !== r.buf.length)
        throw new GobError(`${r.buf.length - r.pos} bytes follow the value`);
      return { typeId: id, typeName: d?.name ?? "", value, types: this.types };
    }
  }
}

/** Decodes one complete gob stream; throws GobError on anything malformed. */
export function decodeGob(payload: Uint8Array): Decoded {
  try {
    return new StreamDecoder(new Reader(payload)).stream();
  } catch (e) {
    if (e instanceof GobError) throw e;
    throw new GobError(`malformed gob: ${(e as Error).message}`);
  }
}
