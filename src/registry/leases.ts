/**
 * When each lease ends, bucketed by time, so a sweep touches only the leases that ended and
 * a renewal is O(1): no scan of all nodes.
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
