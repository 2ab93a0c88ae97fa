/**
 * Encodes values as Go's gob.Encoder does: type ids assigned the first time this encoder meets
 * a type (a struct before its fields, a map or slice after its key and element), every
 * definition a value needs sent in each stream, parent first, depth first; zero fields left
 * out except structs. Each `encode` is a complete stream, as from a fresh Go encoder — but ids
 * stay as assigned, as in one Go process.
 */
import { GobError, INTERFACE_TYPES, basicId, type GoAny, type GoType } from "./types.js";
import { Writer } from "./wire.js";

const BASIC_BY_ID: Record<number, GoType> = {
  1: { kind: "bool" },
  2: { kind: "int" },
  3: { kind: "uint" },
  4: { kind: "float" },
  5: { kind: "bytes" },
  6: { kind: "string" },
};

function isZero(t: GoType, v: unknown): boolean {
  switch (t.kind) {
    case "struct":
      return false; // Go sends struct fields always
    case "interface":
      return v === null || v === undefined;
    case "map":
      return v === null || v === undefined || (v instanceof Map ? v.size === 0 : Object.keys(v as object).length === 0);
    case "slice":
      return v === null || v === undefined || (v as unknown[]).length === 0;
    case "bytes":
      return v === null || v === undefined || (v as Uint8Array).length === 0;
    case "bool":
      return v !== true;
    case "string":
      return v === "" || v === undefined || v === null;
    default:
      return v === 0 || v === 0n || v === undefined || v === null;
  }
}

export class GobEncoder {
  private readonly ids = new Map<GoType, number>();
  private next = 65;

  /** The id of `t`, assigning ids as Go would on first use. */
  id(t: GoType): number {
    const b = basicId(t);
    if (b !== undefined) return b;
    const known = this.ids.get(t);
    if (known !== undefined) return known;
    switch (t.kind) {
      case "struct": {
        const id = this.next++;
        this.ids.set(t, id);
        for (const f of t.fields) this.id(f.type);
        return id;
      }
      case "map":
        this.id(t.key);
        this.id(t.elem);
        break;
      case "slice":
        this.id(t.elem);
        break;
    }
    const id = this.next++;
    this.ids.set(t, id);
    return id;
  }

  private definitions(t: GoType, seen: Set<GoType>, out: GoType[]): void {
    if (basicId(t) !== undefined || seen.has(t)) return;
    seen.add(t);
    out.push(t);
    if (t.kind === "struct") for (const f of t.fields) this.definitions(f.type, seen, out);
    else if (t.kind === "map") {
      this.definitions(t.key, seen, out);
      this.definitions(t.elem, seen, out);
    } else if (t.kind === "slice") this.definitions(t.elem, seen, out);
  }

  private common(w: Writer, name: string, id: number): void {
    // CommonType{0 Name, 1 Id}, zero fields left out
    let prev = -1;
    if (name !== "") {
      w.uint(0 - prev);
      w.string(name);
      prev = 0;
    }
    w.uint(1 - prev);
    w.int(id);
    w.uint(0);
  }

  private wireType(t: GoType): Uint8Array {
    const w = new Writer();
    w.int(-this.id(t));
    switch (t.kind) {
      case "slice":
        w.uint(2); // SliceT
        w.uint(1);
        this.common(w, t.name, this.id(t));
        w.uint(1);
        w.int(this.id(t.elem));
        w.uint(0);
        break;
      case "map":
        w.uint(4); // MapT
        w.uint(1);
        this.common(w, t.name, this.id(t));
        w.uint(1);
        w.int(this.id(t.key));
        w.uint(1);
        w.int(this.id(t.elem));
        w.uint(0);
        break;
      case "struct":
        w.uint(3); // StructT
        w.uint(1);
        this.common(w, t.name, this.id(t));
        w.uint(1);
        w.uint(t.fields.length);
        for (const f of t.fields) {
          w.uint(1);
          w.string(f.name);
          w.uint(1);
          w.int(this.id(f.type));
          w.uint(0);
        }
        w.uint(0);
        break;
      default:
        throw new GobError(`${t.kind} is predefined`);
    }
    w.uint(0);
    return w.bytes();
  }

  private value(w: Writer, t: GoType, v: unknown): void {
    switch (t.kind) {
      case "bool":
        w.uint(v === true ? 1 : 0);
        return;
      case "int":
        w.int(v as number | bigint);
        return;
      case "uint":
        w.uint(v as number | bigint);
        return;
      case "float":
        w.float(v as number);
        return;
      case "string":
        w.string(String(v ?? ""));
        return;
      case "bytes": {
        const b = (v as Uint8Array | undefined) ?? new Uint8Array(0);
        w.uint(b.length);
        w.raw(b);
        return;
      }
      case "interface": {
        if (v === null || v === undefined) {
          w.uint(0);
          return;
        }
        const a = v as GoAny;
        const id = INTERFACE_TYPES[a.type];
        const basic = id === undefined ? undefined : BASIC_BY_ID[id];
        if (basic === undefined) throw new GobError(`interface values of type ${a.type} are not supported`);
        w.string(a.type);
        w.int(id as number);
        const inner = new Writer();
        inner.uint(0);
        this.value(inner, basic, a.value);
        w.uint(inner.length);
        w.raw(inner.bytes());
        return;
      }
      case "struct": {
        const o = (v ?? {}) as Record<string, unknown>;
        let prev = -1;
        t.fields.forEach((f, i) => {
          const fv = Object.prototype.hasOwnProperty.call(o, f.name) ? o[f.name] : undefined;
          if (isZero(f.type, fv)) return;
          w.uint(i - prev);
          this.value(w, f.type, fv);
          prev = i;
        });
        w.uint(0);
        return;
      }
      case "map": {
        const entries = v instanceof Map ? [...v] : Object.entries((v ?? {}) as object);
        w.uint(entries.length);
        for (const [k, e] of entries) {
          this.value(w, t.key, k);
          this.value(w, t.elem, e);
        }
        return;
      }
      case "slice": {
        const arr = (v ?? []) as unknown[];
        w.uint(arr.length);
        for (const e of arr) this.value(w, t.elem, e);
        return;
      }
    }
  }

  /** One complete gob stream: the definitions `t` needs, then the value. */
  encode(t: GoType, value: unknown): Uint8Array {
    const id = this.id(t);
    const out = new Writer();
    const defs: GoType[] = [];
    this.definitions(t, new Set(), defs);
    for (const d of defs) {
      const body = this.wireType(d);
      out.uint(body.length);
      out.raw(body);
    }
    const w = new Writer();
    w.int(id);
    if (t.kind !== "struct") w.uint(0);
    this.value(w, t, value);
    out.uint(w.length);
    out.raw(w.bytes());
    return out.bytes();
  }
}
