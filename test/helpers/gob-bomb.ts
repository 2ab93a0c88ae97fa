/**
 * A gob stream whose value is tiny and whose zero value is not: struct types T0..TL, each with
 * `width` fields of the next type, then a value of T0 with no field sent. A decoder that builds
 * zero values eagerly builds width^L objects from about 35 bytes per level (L = 30, width 2:
 * 1 KB for 2^30). L stays at most 31, under the decoder's nesting limit, so only a budget on
 * the work stops it.
 */
import { Writer } from "../../src/gob/wire.js";

export function gobBomb(width: number, levels: number): Uint8Array {
  const out = new Writer();
  const message = (w: Writer): void => {
    out.uint(w.length);
    out.raw(w.bytes());
  };
  // Definitions from the leaf up, as a Go encoder sends them (a type before its users).
  for (let level = levels; level >= 0; level--) {
    const id = 65 + level;
    const fields = level === levels ? 0 : width;
    const w = new Writer();
    w.int(-id); // a definition of type `id`: a wireType...
    w.uint(3); // ...field 2 (StructT): delta 3
    w.uint(1); // structType.CommonType
    w.uint(1); // CommonType.Name
    w.string(`T${level}`);
    w.uint(1); // CommonType.Id
    w.int(id);
    w.uint(0); // end of CommonType
    w.uint(1); // structType.Field: a slice of fieldType
    w.uint(fields);
    for (let i = 0; i < fields; i++) {
      w.uint(1);
      w.string(`F${i}`);
      w.uint(1);
      w.int(id + 1);
      w.uint(0);
    }
    w.uint(0); // end of structType
    w.uint(0); // end of wireType
    message(w);
  }
  const value = new Writer();
  value.int(65); // a value of T0...
  value.uint(0); // ...with no field sent
  message(value);
  return out.bytes();
}
