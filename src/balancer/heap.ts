/**
 * A binary min-heap whose items know their own position (`slot`), so an item's key can
 * change or the item can leave in O(log n), and the best item is read in O(1). The backing
 * array also gives O(1) random access, for "two random choices".
 */

/** What the heap needs of an item: its slot, kept by the heap (-1 when in no heap). */
export interface HeapItem {
  slot: number;
}

export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  /** @param less strict order: true when `a` comes before `b`. */
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  /** The best item, or undefined. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** The item at a position of the backing array (any order), for random picks. */
  at(i: number): T | undefined {
    return this.items[i];
  }

  has(item: T): boolean {
    return item.slot >= 0 && this.items[item.slot] === item;
  }

  push(item: T): void {
    item.slot = this.items.length;
    this.items.push(item);
    this.up(item.slot);
  }

  /** Restores order after the item's key changed. */
  update(item: T): void {
    if (!this.has(item)) return;
    this.down(this.up(item.slot));
  }

  remove(item: T): void {
    if (!this.has(item)) return;
    const i = item.slot;
    const last = this.items.pop() as T;
    item.slot = -1;
    if (last !== item) {
      this.items[i] = last;
      last.slot = i;
      this.down(this.up(i));
    }
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.items;
  }

  private swap(i: number, j: number): void {
    const a = this.items[i] as T;
    const b = this.items[j] as T;
    this.items[i] = b;
    this.items[j] = a;
    a.slot = j;
    b.slot = i;
  }

  private up(i: number): number {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.items[i] as T, this.items[p] as T)) break;
      this.swap(i, p);
      i = p;
    }
    return i;
  }

  private down(i: number): number {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.items[l] as T, this.items[m] as T)) m = l;
      if (r < n && this.less(this.items[r] as T, this.items[m] as T)) m = r;
      if (m === i) return i;
      this.swap(i, m);
      i = m;
    }
  }
}
