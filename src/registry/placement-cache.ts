/**
 * The session placements one instance has learnt from the shared store, so that a lookup of a
 * known session is answered without a round trip while the placement still holds. Bounded
 * (the least recently used go first); an entry ends with the idle time the instance last
 * renewed. Whoever owns the cache drops entries the store says changed (releases, re-placements).
 *
 * Kept in two generations of at most half the bound each: new and used entries go to the
 * younger one, and when it is full the older one is dropped whole and the younger takes its
 * place. Evicting one entry at a time from a single Map (its oldest key) looked cheap but was
 * not: V8 finds a Map's first live entry by skipping every entry deleted before it, so once a
 * full cache had evicted many, each new placement paid for tens of thousands of them (a set
 * took 9 µs after 150,000 placements in a cache of 100,000, 78 µs after 300,000).
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
  private young = new Map<string, CachedPlacement>();
  private old = new Map<string, CachedPlacement>();
  /** Entries per generation. */
  private readonly half: number;

  /** @param max placements kept at most (the most recently used half of them at least). */
  constructor(max = 100_000) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The placement of `key`, unless unknown or past its idle time. */
  get(key: string, now: number): CachedPlacement | undefined {
    let e = this.young.get(key);
    if (e === undefined) {
      if (this.old.size === 0) return undefined;
      e = this.old.get(key);
      if (e === undefined) return undefined;
      // Used again: it moves to the younger generation (or goes, when over).
      this.old.delete(key);
      if (e.until <= now) return undefined;
      this.keep(key, e);
      return e;
    }
    if (e.until <= now) {
      this.young.delete(key);
      return undefined;
    }
    return e;
  }

  /** Notes that the store placed (or confirmed) `key` on `nid` at `now`, kept `idleMs`. */
  set(key: string, nid: string, now: number, idleMs: number): void {
    if (this.old.size > 0) this.old.delete(key);
    this.keep(key, { nid, until: now + idleMs, renewedAt: now });
  }

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private keep(key: string, e: CachedPlacement): void {
    if (this.young.size >= this.half && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, e);
  }
}
