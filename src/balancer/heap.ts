/**
 * A 4-ary min-heap of slots (small integers naming items kept elsewhere, in typed arrays),
 * keyed by a number with ties broken by a caller's order: half the depth of a binary heap, and
 * a node's four children side by side in memory (a placement's sift in a zone of 25,000 nodes
 * goes down 8 levels, not 15). Each slot's position is kept in a table shared by every heap of
 * its owner (a slot is in one heap at most), so a slot's key can change or the slot can leave
 * in O(log n), and the best slot is read in O(1). The backing array also gives O(1) random
 * access, for "two random choices".
 *
 * Keys live beside the slots in the heap's own Float64Arrays, so a sift compares contiguous
 * numbers: the key, then a tie key (a number that orders as the caller's tie order does, or
 * is equal: see NodeSlots.tieKey), and only when both are equal the caller's order itself. No
 * object per item, no pointer to follow, and no garbage (the arrays grow by an eighth when
 * full: see capacity.ts).
 */
import { grown, widened } from "../registry/capacity.js";

/** What the heaps of one owner share: each slot's position in its heap (-1 when in none). */
export interface SlotPositions {
  pos: Int32Array;
}

export class SlotHeap {
  private slots = new Int32Array(4);
  private keys = new Float64Array(4);
  private ties = new Float64Array(4);
  private n = 0;

  /**
   * @param table where each slot's position is kept (read anew each time: the owner may grow it).
   * @param tieBefore strict order of two slots whose keys and tie keys are equal.
   */
  constructor(
    private readonly table: SlotPositions,
    private readonly tieBefore: (a: number, b: number) => boolean,
  ) {}

  get size(): number {
    return this.n;
  }

  /** The best slot, or -1 when empty. */
  peek(): number {
    return this.n > 0 ? (this.slots[0] as number) : -1;
  }

  /** The slot at a position of the backing array (any order), for random picks. */
  at(i: number): number {
    return this.slots[i] as number;
  }

  /** The key of the slot at position `i`. */
  keyAt(i: number): number {
    return this.keys[i] as number;
  }

  /** The key of a slot in this heap. */
  keyOf(slot: number): number {
    return this.keys[this.table.pos[slot] as number] as number;
  }

  has(slot: number): boolean {
    const p = this.table.pos[slot] as number;
    return p >= 0 && p < this.n && this.slots[p] === slot;
  }

  /** @param tie the slot's tie key: a lesser one comes first among equal keys; equal ones go to tieBefore. */
  push(slot: number, key: number, tie: number): void {
    if (this.n === this.slots.length) this.grow();
    const i = this.n++;
    this.slots[i] = slot;
    this.keys[i] = key;
    this.ties[i] = tie;
    this.table.pos[slot] = i;
    this.up(i);
  }

  /** Sets a slot's key and restores order. */
  update(slot: number, key: number): void {
    if (!this.has(slot)) return;
    const i = this.table.pos[slot] as number;
    this.keys[i] = key;
    this.down(this.up(i));
  }

  remove(slot: number): void {
    if (!this.has(slot)) return;
    const i = this.table.pos[slot] as number;
    const last = --this.n;
    this.table.pos[slot] = -1;
    if (i !== last) {
      const s = this.slots[last] as number;
      this.slots[i] = s;
      this.keys[i] = this.keys[last] as number;
      this.ties[i] = this.ties[last] as number;
      this.table.pos[s] = i;
      this.down(this.up(i));
    }
  }

  /** True when the item at position `i` comes before the one at `j`. */
  private less(i: number, j: number): boolean {
    const a = this.keys[i] as number;
    const b = this.keys[j] as number;
    if (a !== b) return a < b;
    const ta = this.ties[i] as number;
    const tb = this.ties[j] as number;
    return ta < tb || (ta === tb && this.tieBefore(this.slots[i] as number, this.slots[j] as number));
  }

  /** Sets every slot's tie key anew (the order they stand for is the same, so the heap stays in order). */
  retie(tieOf: (slot: number) => number): void {
    for (let i = 0; i < this.n; i++) this.ties[i] = tieOf(this.slots[i] as number);
  }

  private swap(i: number, j: number): void {
    const si = this.slots[i] as number;
    const sj = this.slots[j] as number;
    const ki = this.keys[i] as number;
    const ti = this.ties[i] as number;
    this.slots[i] = sj;
    this.slots[j] = si;
    this.keys[i] = this.keys[j] as number;
    this.keys[j] = ki;
    this.ties[i] = this.ties[j] as number;
    this.ties[j] = ti;
    const pos = this.table.pos;
    pos[si] = j;
    pos[sj] = i;
  }

  private up(i: number): number {
    while (i > 0) {
      const p = (i - 1) >> 2;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
    return i;
  }

  private down(i: number): number {
    const n = this.n;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) return i;
      const end = Math.min(first + 4, n);
      let m = i;
      for (let c = first; c < end; c++) if (this.less(c, m)) m = c;
      if (m === i) return i;
      this.swap(i, m);
      i = m;
    }
  }

  private grow(): void {
    const cap = grown(this.slots.length, 4);
    this.slots = widened(this.slots, cap);
    this.keys = widened(this.keys, cap);
    this.ties = widened(this.ties, cap);
  }
}
