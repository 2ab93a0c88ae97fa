/**
 * Counts by label set kept as plain numbers and written into a prom-client Counter when it is
 * scraped (from its `collect`): a count on the call path is two map lookups and an add, not
 * prom-client's label checks and hashing (about a microsecond a call on islb's hot paths).
 */
type Labels = Record<string, string>;

interface Entry {
  readonly labels: Labels;
  n: number;
}

export class Tally {
  private readonly entries = new Map<string, Map<string, Entry>>();

  /** @param names the counter's two label names, for the values given to `add`. */
  constructor(private readonly names: readonly [string, string]) {}

  /** Counts `n` for the label values `a` and `b`. */
  add(a: string, b: string, n = 1): void {
    let inner = this.entries.get(a);
    if (inner === undefined) this.entries.set(a, (inner = new Map()));
    let e = inner.get(b);
    if (e === undefined) inner.set(b, (e = { labels: { [this.names[0]]: a, [this.names[1]]: b }, n: 0 }));
    e.n += n;
  }

  /** Hands every count since the last flush to `inc`, and zeroes them. */
  flush(inc: (labels: Labels, n: number) => void): void {
    for (const inner of this.entries.values())
      for (const e of inner.values()) {
        if (e.n > 0) inc(e.labels, e.n);
        e.n = 0;
      }
  }
}
