/**
 * The nodes of a registry view as columns: each node has a slot (a small integer, reused once
 * the node leaves, found by the one map from node id to slot) and its figures sit at that
 * index of typed arrays and plain arrays, so 100,000 nodes cost a few arrays and one map entry
 * each rather than a record, a load object and boxed numbers apiece. Whoever keeps more per
 * node (the memory store's owner tokens, the balancer's heaps) keeps it by the same slot.
 *
 * Records are made from the columns when asked for (`recordAt`) and the last ones made or
 * applied are kept in a small cache (one entry per slot modulo its size), so a node looked up
 * again, or just after its change, costs no allocation, and memory stays bounded.
 */
import type { Node } from "../../generated/ion/ion.js";
import { NodeState, keepsSessions, type ExtraValue, type Load, type NodeMark, type NodeRecord } from "./model.js";
import { Profiles, type NodeProfile } from "./profiles.js";

/** What the balancer reads of a node (a NodeRecord is one). */
export type NodeFigures = Pick<NodeRecord, "node" | "state" | "region" | "load" | "soft" | "hard" | "mark">;

/** Records kept made (a power of two): bounded memory, the hot ones reused. */
const CACHE = 1024;
const LOAD = 5;
const ZERO = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
/** The profile of a free slot. */
const NO_PROFILE: NodeProfile = { region: "", soft: ZERO, hard: ZERO, extra: new Map<string, ExtraValue>() };
const TIMES = 3;

export class NodeTable {
  private readonly index = new Map<string, number>();
  private readonly free: number[] = [];
  private used = 0;
  private cap = 0;
  /** The node (immutable, shared by its records) in each slot; undefined while the slot is free. */
  readonly nodes: (Node | undefined)[] = [];
  /** Each slot's region, limits and extra info (shared by the nodes that have the same ones). */
  private readonly profiles: NodeProfile[] = [];
  private readonly kept = new Profiles();
  /** The operators' marks by slot (few nodes have one). */
  private readonly marks = new Map<number, NodeMark>();
  private states = new Uint8Array(0);
  /** cpu, sessions, tracks, bandwidthIn, bandwidthOut of each slot, side by side. */
  private loads = new Float64Array(0);
  /** registeredAt, expiresAt, leaseMs of each slot, side by side. */
  private times = new Float64Array(0);
  private readonly cacheSlot = new Int32Array(CACHE).fill(-1);
  private readonly cacheRecord: (NodeRecord | undefined)[] = new Array<undefined>(CACHE).fill(undefined);

  get size(): number {
    return this.index.size;
  }

  /** One past the highest slot ever used since the last clear (iterate slots below it, skipping free ones). */
  get end(): number {
    return this.used;
  }

  slotOf(nid: string): number | undefined {
    return this.index.get(nid);
  }

  /** The id of the node in slot `s` ("" when free). */
  nidAt(s: number): string {
    return this.nodes[s]?.nid ?? "";
  }

  stateAt(s: number): NodeState {
    return this.states[s] as NodeState;
  }

  expiresAt(s: number): number {
    return this.times[s * TIMES + 1] as number;
  }

  leaseMsAt(s: number): number {
    return this.times[s * TIMES + 2] as number;
  }

  markAt(s: number): NodeMark | undefined {
    return this.marks.size === 0 ? undefined : this.marks.get(s);
  }

  /** A slot for node `nid`, not in the table yet (fill it with `set`). */
  add(nid: string): number {
    let s = this.free.pop();
    if (s === undefined) {
      if (this.used === this.cap) this.grow();
      s = this.used++;
    }
    this.index.set(nid, s);
    return s;
  }

  /** Forgets the node id of slot `s` (lookups by id miss it); its columns stay until `release`. */
  unlink(nid: string): void {
    this.index.delete(nid);
  }

  /** Frees slot `s` (after `unlink`). */
  release(s: number): void {
    this.nodes[s] = undefined;
    this.profiles[s] = NO_PROFILE;
    if (this.marks.size > 0) this.marks.delete(s);
    this.drop(s);
    this.free.push(s);
  }

  clear(): void {
    this.index.clear();
    this.free.length = 0;
    this.used = 0;
    this.nodes.length = 0;
    this.profiles.length = 0;
    this.marks.clear();
    this.cacheSlot.fill(-1);
    this.cacheRecord.fill(undefined);
  }

  /** Writes `r` into slot `s`; `r` is what `recordAt(s)` returns while it stays cached. */
  set(s: number, r: NodeRecord): void {
    this.nodes[s] = r.node;
    this.profiles[s] = this.kept.of(r, s < this.profiles.length ? this.profiles[s] : undefined);
    this.states[s] = r.state;
    const l = s * LOAD;
    const loads = this.loads;
    loads[l] = r.load.cpu;
    loads[l + 1] = r.load.sessions;
    loads[l + 2] = r.load.tracks;
    loads[l + 3] = r.load.bandwidthIn;
    loads[l + 4] = r.load.bandwidthOut;
    const t = s * TIMES;
    this.times[t] = r.registeredAt;
    this.times[t + 1] = r.expiresAt;
    this.times[t + 2] = r.leaseMs;
    if (r.mark !== undefined) this.marks.set(s, r.mark);
    else if (this.marks.size > 0) this.marks.delete(s);
    const i = s & (CACHE - 1);
    this.cacheSlot[i] = s;
    this.cacheRecord[i] = r;
  }

  /** The record of slot `s` (which must hold a node): the cached one, else made from the columns. */
  recordAt(s: number): NodeRecord {
    const i = s & (CACHE - 1);
    if (this.cacheSlot[i] === s) return this.cacheRecord[i] as NodeRecord;
    const r = this.withFigures(s, this.loadAt(s), this.stateAt(s), this.expiresAt(s), this.leaseMsAt(s));
    this.cacheSlot[i] = s;
    this.cacheRecord[i] = r;
    return r;
  }

  /**
   * The record of slot `s` after a heartbeat: a new load, state and lease, the rest as now
   * (see records.ts beaten), made without making the current one.
   */
  beatenAt(s: number, load: Load, state: NodeState, expiresAt: number, leaseMs: number): NodeRecord {
    return this.withFigures(s, load, state, expiresAt, leaseMs);
  }

  /** Fills `out` with the figures of slot `s` (its load into `out.load`, a scratch object): no allocation. */
  figuresInto(s: number, out: { -readonly [K in keyof NodeFigures]: NodeFigures[K] } & { load: Load }): void {
    out.node = this.nodes[s] as Node;
    out.state = this.states[s] as NodeState;
    const p = this.profiles[s] as NodeProfile;
    out.region = p.region;
    out.soft = p.soft;
    out.hard = p.hard;
    out.mark = this.markAt(s);
    const l = s * LOAD;
    const load = out.load;
    load.cpu = this.loads[l] as number;
    load.sessions = this.loads[l + 1] as number;
    load.tracks = this.loads[l + 2] as number;
    load.bandwidthIn = this.loads[l + 3] as number;
    load.bandwidthOut = this.loads[l + 4] as number;
  }

  /** True when the node of slot `s` is of `service` and keeps its sessions (model.ts keepsSessions). */
  keepsSessions(s: number, service: string): boolean {
    return this.nodes[s]?.service === service && keepsSessions({ state: this.stateAt(s), mark: this.markAt(s) });
  }

  private loadAt(s: number): Load {
    const l = s * LOAD;
    const loads = this.loads;
    return {
      cpu: loads[l] as number,
      sessions: loads[l + 1] as number,
      tracks: loads[l + 2] as number,
      bandwidthIn: loads[l + 3] as number,
      bandwidthOut: loads[l + 4] as number,
    };
  }

  /** One literal of toRecord's shape (every field of NodeRecord named), the mark only when there is one. */
  private withFigures(s: number, load: Load, state: NodeState, expiresAt: number, leaseMs: number): NodeRecord {
    const p = this.profiles[s] as NodeProfile;
    const next: Omit<Required<NodeRecord>, "mark"> = {
      node: this.nodes[s] as Node,
      state,
      region: p.region,
      load,
      soft: p.soft,
      hard: p.hard,
      extra: p.extra,
      registeredAt: this.times[s * TIMES] as number,
      expiresAt,
      leaseMs,
    };
    const mark = this.markAt(s);
    return mark === undefined ? next : { ...next, mark };
  }

  private drop(s: number): void {
    const i = s & (CACHE - 1);
    if (this.cacheSlot[i] !== s) return;
    this.cacheSlot[i] = -1;
    this.cacheRecord[i] = undefined;
  }

  private grow(): void {
    const cap = Math.max(64, this.cap * 2);
    const states = new Uint8Array(cap);
    states.set(this.states);
    this.states = states;
    const loads = new Float64Array(cap * LOAD);
    loads.set(this.loads);
    this.loads = loads;
    const times = new Float64Array(cap * TIMES);
    times.set(this.times);
    this.times = times;
    this.cap = cap;
  }
}
