/**
 * The recent changes a registry view keeps so that watchers can resume from a revision,
 * bounded three ways: by count, by (estimated) bytes and by age. What falls out of any bound
 * is gone: a watcher resuming from before it gets RESET and a fresh snapshot.
 */
import type { NodeRecord, RegistryEvent } from "./model.js";

/** Bounds of the change history. */
export interface HistoryLimits {
  /** Changes kept at most. */
  changes: number;
  /** Estimated bytes of the kept changes at most. */
  bytes: number;
  /** A change is kept at most this long (ms). */
  ageMs: number;
}

/** 100,000 changes, 16 MiB, 10 minutes: whichever bound is reached first. */
export const DEFAULT_HISTORY: Readonly<HistoryLimits> = { changes: 100_000, bytes: 16 * 1024 * 1024, ageMs: 600_000 };

/** Fixed cost of an event and its record (objects, numbers, load and limits). */
const FIXED_BYTES = 400;

function strBytes(s: string): number {
  return 16 + 2 * s.length;
}

/**
 * A conservative estimate of what one kept change holds in memory (parts shared by records are
 * counted each time). Computed anew each time (a few string lengths): a cache by node cost 42
 * bytes a node at 100,000 nodes (a WeakMap's table) for no measurable gain.
 */
export function estimateBytes(r: NodeRecord): number {
  let n = strBytes(r.node.nid) + strBytes(r.node.service) + strBytes(r.node.dc);
  const rpc = r.node.rpc;
  if (rpc !== undefined) {
    n += strBytes(rpc.protocol) + strBytes(rpc.addr);
    if (rpc.params.size > 0) for (const [k, v] of rpc.params) n += 48 + strBytes(k) + strBytes(v);
  }
  let extra = 0;
  if (r.extra.size > 0)
    for (const [k, v] of r.extra)
      extra += 96 + strBytes(k) + (v.stringValue === undefined ? 0 : strBytes(v.stringValue));
  return FIXED_BYTES + n + extra + strBytes(r.region);
}

/** A ring of recent changes, oldest first. */
export class ChangeHistory {
  private readonly log: (RegistryEvent | undefined)[];
  private readonly sizes: Float64Array;
  private readonly times: Float64Array;
  private start = 0;
  private count = 0;
  private total = 0;
  readonly limits: Readonly<HistoryLimits>;

  constructor(
    limits: Partial<HistoryLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...DEFAULT_HISTORY, ...limits };
    const cap = Math.max(1, Math.floor(this.limits.changes));
    this.log = new Array(cap);
    this.sizes = new Float64Array(cap);
    this.times = new Float64Array(cap);
  }

  /** How many changes are kept. */
  get size(): number {
    return this.count;
  }

  /** Estimated bytes of the kept changes. */
  get bytes(): number {
    return this.total;
  }

  /** Appends a change, dropping the oldest ones past any bound. */
  append(event: RegistryEvent): void {
    const cap = this.log.length;
    const t = this.now();
    if (this.count === cap) this.dropOldest();
    const i = (this.start + this.count) % cap;
    const size = estimateBytes(event.record);
    this.log[i] = event;
    this.sizes[i] = size;
    this.times[i] = t;
    this.count++;
    this.total += size;
    this.trim(t);
  }

  private dropOldest(): void {
    const cap = this.log.length;
    this.total -= this.sizes[this.start] as number;
    this.log[this.start] = undefined;
    this.start = (this.start + 1) % cap;
    this.count--;
  }

  /** Drops changes past the byte bound (keeping the newest) and older than the age bound. */
  private trim(now: number): void {
    while (this.count > 1 && this.total > this.limits.bytes) this.dropOldest();
    while (this.count > 0 && now - (this.times[this.start] as number) > this.limits.ageMs) this.dropOldest();
  }

  /**
   * The changes after `revision`, in order, or undefined when some of them are no longer
   * kept. `current` is the view's revision (nothing is missing when the watcher is at it).
   */
  since(revision: number, current: number): RegistryEvent[] | undefined {
    if (revision >= current) return [];
    this.trim(this.now());
    const cap = this.log.length;
    const oldest = this.count === 0 ? undefined : this.log[this.start];
    if (oldest === undefined || oldest.revision > revision + 1) return undefined;
    const out: RegistryEvent[] = [];
    for (let i = 0; i < this.count; i++) {
      const e = this.log[(this.start + i) % cap] as RegistryEvent;
      if (e.revision > revision) out.push(e);
    }
    return out;
  }

  /** Forgets everything (the view was replaced by a snapshot). */
  clear(): void {
    this.log.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.total = 0;
  }
}
