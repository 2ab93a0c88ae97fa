/** Comparing bytes in place, without a view or a copy. */

/** True when `data` holds exactly the bytes of `expected` from index `at` (and has room for them). */
export function bytesAt(data: Uint8Array, at: number, expected: Uint8Array): boolean {
  const n = expected.length;
  if (at < 0 || data.length - at < n) return false;
  for (let i = 0; i < n; i++) if (data[at + i] !== expected[i]) return false;
  return true;
}
