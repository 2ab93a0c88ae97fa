/**
 * The session placements one instance has learnt from the shared store, so that a lookup of a
 * known session is answered without a round trip while the placement still holds. Bounded
 * (the oldest entry makes room); an entry ends with the idle time the instance last renewed.
 * Whoever owns the cache drops entries the store says changed (releases, re-placements).
 */

/** A placement as last confirmed or renewed by this instance. */
export interface CachedPlacement {
  readonly nid: string;
  /** When the store forgets it unless renewed (local clock, never later than the store's). */
  until: number;
  /** When this instance last renewed it in the store. */
  renewedAt: number;
}

export class PlacementCache {
  private readonly entries = new Map<string, CachedPlacement>();

  /** @param max placements kept at most. */
  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.entries.size;
  }

  /** The placement of `key`, unless unknown or past its idle time. */
  get(key: string, now: number): CachedPlacement | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Notes that the store placed (or confirmed) `key` on `nid` at `now`, kept `idleMs`. */
  set(key: string, nid: string, now: number, idleMs: number): void {
    if (this.entries.size >= this.max && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { nid, until: now + idleMs, renewedAt: now });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
