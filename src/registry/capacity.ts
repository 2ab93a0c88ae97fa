/**
 * How the columns kept by slot (typed arrays: see NodeTable) grow: by an eighth of what they
 * hold (at least `min` entries), so the room they keep unused is at most an eighth of what is
 * used, about 6% on average over sizes (doubling left up to as much again, 31% at 100,000
 * nodes). Each growth copies the column: about 8 copies an entry in all, at registration.
 */
export const grown = (cap: number, min = 64): number => cap + Math.max(min, cap >> 3);

/** `a` widened to `cap` entries (its contents copied), of the same kind; the new entries are 0. */
export function widened<T extends Float64Array | Uint32Array | Int32Array | Uint8Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}
