/**
 * When each lease (or session) may end, bucketed by time, so a sweep touches only the buckets
 * that ended and a renewal costs nothing: no scan of all nodes, and no index. Adding is a
 * push; a key sits in the bucket it was last added to, possibly also in older ones it
 * outlived. Whoever sweeps checks each key it gets back against its exact end, drops the ones
 * that are stale (a later bucket holds them), and adds the live ones again.
 */
export class ExpiryBuckets {
  private readonly buckets = new Map<number, string[]>();
  /** Buckets count from here (a day before it was made), so bucket numbers stay small integers. */
  private readonly base = Date.now() - 86_400_000;

  /** @param resolutionMs width of a bucket. */
  constructor(private readonly resolutionMs = 250) {}

  /** The bucket a key ending at `at` goes to. */
  bucketOf(at: number): number {
    return Math.ceil((at - this.base) / this.resolutionMs);
  }

  /** The last bucket that is due at `now`. */
  lastDue(now: number): number {
    return Math.floor((now - this.base) / this.resolutionMs);
  }

  /** Adds `key`, ending at `at`; returns its bucket. */
  add(key: string, at: number): number {
    const b = this.bucketOf(at);
    const keys = this.buckets.get(b);
    if (keys === undefined) this.buckets.set(b, [key]);
    else keys.push(key);
    return b;
  }

  /** The keys of the buckets that ended by `now` (check each one's exact end); removes those buckets. */
  due(now: number): string[] {
    const last = this.lastDue(now);
    const out: string[] = [];
    for (const [b, keys] of this.buckets) {
      if (b > last) continue;
      for (const k of keys) out.push(k);
      this.buckets.delete(b);
    }
    return out;
  }
}
