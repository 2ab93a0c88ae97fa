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
 *
 * The generations are keyed by a hash of the key (slotOf), not by the key: two keys sharing a
 * slot take turns in it, so one costs the other a lookup in the store, never a wrong answer.
 */
import { fnv1a } from "./fnv.js";

/** A placement as last confirmed or renewed by this instance. */
export interface CachedPlacement {
  readonly nid: string;
  /** When the store forgets it unless renewed (local clock, never later than the store's). */
  until: number;
  /** When this instance last renewed it in the store. */
  renewedAt: number;
}

/** An entry, with the key it is for (two keys may share a hash: the later one takes the slot). */
interface Entry extends CachedPlacement {
  readonly key: string;
}

/**
 * A key's slot in the generations: 31 bits of its FNV-1a hash, a small integer. Maps keyed by
 * it find an entry, or find there is none, without reading the keys of the entries they pass
 * on the way: with string keys, a miss in a generation of 50,000 placements cost about 600 ns
 * in a busy process (each entry compared was another string to fetch from memory), against
 * some 40 ns for the same lookup in a map the processor's caches already held.
 */
const slotOf = (key: string): number => fnv1a(key) >>> 1;

export class PlacementCache {
  private young = new Map<number, Entry>();
  private old = new Map<number, Entry>();
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
    const slot = slotOf(key);
    let e = this.young.get(slot);
    if (e === undefined || e.key !== key) {
      if (this.old.size === 0) return undefined;
      e = this.old.get(slot);
      if (e === undefined || e.key !== key) return undefined;
      // Used again: it moves to the younger generation (or goes, when over).
      this.old.delete(slot);
      if (e.until <= now) return undefined;
      this.keep(slot, e);
      return e;
    }
    if (e.until <= now) {
      this.young.delete(slot);
      return undefined;
    }
    return e;
  }

  /** Notes that the store placed (or confirmed) `key` on `nid` at `now`, kept `idleMs`. */
  set(key: string, nid: string, now: number, idleMs: number): void {
    const slot = slotOf(key);
    if (this.old.size > 0 && this.old.get(slot)?.key === key) this.old.delete(slot);
    this.keep(slot, { key, nid, until: now + idleMs, renewedAt: now });
  }

  delete(key: string): void {
    const slot = slotOf(key);
    if (this.young.get(slot)?.key === key) this.young.delete(slot);
    if (this.old.get(slot)?.key === key) this.old.delete(slot);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private keep(slot: number, e: Entry): void {
    if (this.young.size >= this.half && !this.young.has(slot)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(slot, e);
  }
}
