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

/**
 * When each lease ends, bucketed by time, for a store that moves a node's lease end (the NATS
 * KV store's sweep): a renewal is O(1) and moves the node to its new bucket, and a sweep
 * touches only the leases that ended, with no scan of all nodes.
 */
export class LeaseWheel {
  private readonly buckets = new Map<number, Set<string>>();
  private readonly bucketOf = new Map<string, number>();

  /** @param resolutionMs width of a bucket. */
  constructor(private readonly resolutionMs = 250) {}

  /** Sets (or moves) the end of `nid`'s lease. */
  set(nid: string, expiresAt: number): void {
    const b = Math.ceil(expiresAt / this.resolutionMs);
    const cur = this.bucketOf.get(nid);
    if (cur === b) return;
    if (cur !== undefined) this.buckets.get(cur)?.delete(nid);
    let set = this.buckets.get(b);
    if (set === undefined) this.buckets.set(b, (set = new Set()));
    set.add(nid);
    this.bucketOf.set(nid, b);
  }

  delete(nid: string): void {
    const cur = this.bucketOf.get(nid);
    if (cur === undefined) return;
    this.buckets.get(cur)?.delete(nid);
    this.bucketOf.delete(nid);
  }

  /** Ids whose bucket ended by `now` (check each one's exact expiry); removes those buckets. */
  due(now: number): string[] {
    const last = Math.floor(now / this.resolutionMs);
    const out: string[] = [];
    for (const [b, set] of this.buckets) {
      if (b > last) continue;
      for (const nid of set) {
        out.push(nid);
        this.bucketOf.delete(nid);
      }
      this.buckets.delete(b);
    }
    return out;
  }
}
