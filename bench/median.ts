/** Medians of repeated measurements (the upper middle one for an even count). */

/** The item whose `key` is the median of the items' keys. */
export function medianBy<T>(xs: readonly T[], key: (x: T) => number): T {
  return xs.slice().sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)] as T;
}

/** The median of the numbers. */
export function median(xs: readonly number[]): number {
  return medianBy(xs, (x) => x);
}
