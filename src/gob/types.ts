/** Go types as gob describes them, and the values the codec reads and writes. */

/** A Go type. Structs, maps and slices are compared by identity: make each once. */
export type GoType =
  | { readonly kind: "bool" | "int" | "uint" | "float" | "string" | "bytes" | "interface" }
  | {
      readonly kind: "struct";
      readonly name: string;
      readonly fields: ReadonlyArray<{ readonly name: string; readonly type: GoType }>;
    }
  | { readonly kind: "map"; readonly name: string; readonly key: GoType; readonly elem: GoType }
  | { readonly kind: "slice"; readonly name: string; readonly elem: GoType };

/** A value held in an interface{}: its Go type name ("int", "float64", "string"...) and the value. */
export interface GoAny {
  readonly type: string;
  readonly value: unknown;
}

/** A struct's value: field name → value (own properties only; see `struct()`). */
export type GoStruct = Record<string, unknown>;

/** Gob's predefined type ids. */
export const ID = {
  bool: 1,
  int: 2,
  uint: 3,
  float: 4,
  bytes: 5,
  string: 6,
  complex: 7,
  interface: 8,
  wireType: 16,
} as const;

/** Builds a struct value safely: a field named "__proto__" becomes an own property, never a prototype. */
export function struct(entries: Iterable<[string, unknown]>): GoStruct {
  const o: GoStruct = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

export const BOOL: GoType = { kind: "bool" };
export const INT: GoType = { kind: "int" };
export const UINT: GoType = { kind: "uint" };
export const FLOAT: GoType = { kind: "float" };
export const STRING: GoType = { kind: "string" };
export const BYTES: GoType = { kind: "bytes" };
export const INTERFACE: GoType = { kind: "interface" };

/** The predefined id of a basic type, or undefined for structs, maps and slices. */
export function basicId(t: GoType): number | undefined {
  switch (t.kind) {
    case "bool":
      return ID.bool;
    case "int":
      return ID.int;
    case "uint":
      return ID.uint;
    case "float":
      return ID.float;
    case "string":
      return ID.string;
    case "bytes":
      return ID.bytes;
    case "interface":
      return ID.interface;
    default:
      return undefined;
  }
}

/** Go type names of the basic types an interface{} may hold, and their ids. */
export const INTERFACE_TYPES: Record<string, number> = {
  bool: ID.bool,
  int: ID.int,
  int8: ID.int,
  int16: ID.int,
  int32: ID.int,
  int64: ID.int,
  uint: ID.uint,
  uint8: ID.uint,
  uint16: ID.uint,
  uint32: ID.uint,
  uint64: ID.uint,
  uintptr: ID.uint,
  float32: ID.float,
  float64: ID.float,
  string: ID.string,
  "[]uint8": ID.bytes,
};

/** Gob input that cannot be decoded. */
export class GobError extends Error {}
