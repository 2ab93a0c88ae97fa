/**
 * The nodes of a registry view as columns: each node has a slot (a small integer, reused once
 * the node leaves, found by the one map from node id to slot) and its figures sit at that
 * index of typed arrays and plain arrays, so 100,000 nodes cost a few arrays and one map entry
 * each rather than a record, a load object and boxed numbers apiece. Whoever keeps more per
 * node (the memory store's owner tokens, the balancer's heaps) keeps it by the same slot.
 *
 * Records, and a node's ion `Node`, are made from the columns when asked for (`recordAt`,
 * `nodeAt`) and the last ones made or applied are kept in a small cache (one entry per slot
 * modulo its size), so a node looked up again, or just after its change, costs no allocation,
 * and memory stays bounded.
 *
 * Each figure is kept in a column as wide as the wire carries it, exactly: the counts the wire
 * carries as uint32 (sessions, tracks, the lease) in a Uint32Array, cpu (a double), bandwidth
 * (uint64, kept as JS numbers) and the epoch-ms times in Float64Arrays. A count that is not a
 * uint32 (one made in process, or from JSON) is kept exactly too, beside the column, and so is
 * a state no byte holds (UNRECOGNIZED, -1, or an unknown value from the wire).
 */
import type { Node } from "../../generated/ion/ion.js";
import { NodeState, keepsSessions, type ExtraValue, type Load, type NodeMark, type NodeRecord } from "./model.js";
import { Profiles, type NodeProfile } from "./profiles.js";
import { grown, widened } from "./capacity.js";

/** What the balancer reads of a node (a NodeRecord is one). */
export type NodeFigures = Pick<NodeRecord, "node" | "state" | "region" | "load" | "soft" | "hard" | "mark">;

/** Records kept made (a power of two): bounded memory, the hot ones reused. */
const CACHE = 1024;
/** cpu, bandwidthIn, bandwidthOut of each slot, side by side (Float64). */
const REALS = 3;
/** sessions, tracks, leaseMs of each slot, side by side (Uint32). */
const COUNTS = 3;
/** registeredAt, expiresAt of each slot, side by side (Float64). */
const TIMES = 2;
/** A count kept beside its column (it is not a uint32, or is this one): see `spilled`. */
const SPILLED = 0xffffffff;
/** A state kept beside its column (one no byte holds, such as UNRECOGNIZED, -1): see `oddStates`. */
const ODD_STATE = 0xff;
const ZERO = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
/** The profile of a free slot. */
const NO_PROFILE: NodeProfile = {
  service: "",
  dc: "",
  rpc: undefined,
  region: "",
  soft: ZERO,
  hard: ZERO,
  extra: new Map<string, ExtraValue>(),
};

export class NodeTable {
  private readonly index = new Map<string, number>();
  private readonly free: number[] = [];
  private used = 0;
  private cap = 0;
  /** The id of the node in each slot; undefined while the slot is free. */
  private readonly nids: (string | undefined)[] = [];
  /** Each slot's service, dc, endpoint, region, limits and extra info (shared by the nodes that have the same ones). */
  private readonly profiles: NodeProfile[] = [];
  private readonly kept = new Profiles();
  /** The operators' marks by slot (few nodes have one). */
  private readonly marks = new Map<number, NodeMark>();
  private states = new Uint8Array(0);
  /** The states that are not a byte (ODD_STATE in `states`), by slot. */
  private readonly oddStates = new Map<number, NodeState>();
  private reals = new Float64Array(0);
  private counts = new Uint32Array(0);
  /** The counts that are not uint32 (SPILLED in `counts`), by their index there: exact whatever they are. */
  private readonly spilled = new Map<number, number>();
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

  /** True when slot `s` holds a node. */
  has(s: number): boolean {
    return this.nids[s] !== undefined;
  }

  /** The id of the node in slot `s` ("" when free). */
  nidAt(s: number): string {
    return this.nids[s] ?? "";
  }

  /** The service of the node in slot `s` ("" when free). */
  serviceAt(s: number): string {
    return (this.profiles[s] ?? NO_PROFILE).service;
  }

  /**
   * The ion `Node` of slot `s` (which must hold a node), as its record has it: the cached
   * record's, else one made from its id and profile (equal to the one applied).
   */
  nodeAt(s: number): Node {
    const i = s & (CACHE - 1);
    if (this.cacheSlot[i] === s) return (this.cacheRecord[i] as NodeRecord).node;
    return this.nodeOf(s, this.profiles[s] as NodeProfile);
  }

  stateAt(s: number): NodeState {
    const v = this.states[s] as number;
    return v !== ODD_STATE ? v : (this.oddStates.get(s) as NodeState);
  }

  expiresAt(s: number): number {
    return this.times[s * TIMES + 1] as number;
  }

  leaseMsAt(s: number): number {
    return this.countAt(s * COUNTS + 2);
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
    this.nids[s] = undefined;
    this.profiles[s] = NO_PROFILE;
    if (this.marks.size > 0) this.marks.delete(s);
    if (this.spilled.size > 0) for (let c = s * COUNTS; c < (s + 1) * COUNTS; c++) this.spilled.delete(c);
    if (this.oddStates.size > 0) this.oddStates.delete(s);
    this.drop(s);
    this.free.push(s);
  }

  clear(): void {
    this.index.clear();
    this.free.length = 0;
    this.used = 0;
    this.nids.length = 0;
    this.profiles.length = 0;
    this.marks.clear();
    this.spilled.clear();
    this.oddStates.clear();
    this.cacheSlot.fill(-1);
    this.cacheRecord.fill(undefined);
  }

  /** Writes `r` into slot `s`; `r` is what `recordAt(s)` returns while it stays cached. */
  set(s: number, r: NodeRecord): void {
    this.nids[s] = r.node.nid;
    this.profiles[s] = this.kept.of(r, s < this.profiles.length ? this.profiles[s] : undefined);
    this.setState(s, r.state);
    const l = s * REALS;
    const reals = this.reals;
    reals[l] = r.load.cpu;
    reals[l + 1] = r.load.bandwidthIn;
    reals[l + 2] = r.load.bandwidthOut;
    const c = s * COUNTS;
    this.setCount(c, r.load.sessions);
    this.setCount(c + 1, r.load.tracks);
    this.setCount(c + 2, r.leaseMs);
    const t = s * TIMES;
    this.times[t] = r.registeredAt;
    this.times[t + 1] = r.expiresAt;
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

  /**
   * Fills `out` with the figures of slot `s` (its load into `out.load` and its node into
   * `out.node`, scratch objects): no allocation.
   */
  figuresInto(
    s: number,
    out: { -readonly [K in keyof NodeFigures]: NodeFigures[K] } & { load: Load; node: Node },
  ): void {
    const p = this.profiles[s] as NodeProfile;
    const node = out.node;
    node.dc = p.dc;
    node.nid = this.nids[s] as string;
    node.service = p.service;
    node.rpc = p.rpc;
    out.state = this.stateAt(s);
    out.region = p.region;
    out.soft = p.soft;
    out.hard = p.hard;
    out.mark = this.markAt(s);
    const l = s * REALS;
    const c = s * COUNTS;
    const load = out.load;
    load.cpu = this.reals[l] as number;
    load.sessions = this.countAt(c);
    load.tracks = this.countAt(c + 1);
    load.bandwidthIn = this.reals[l + 1] as number;
    load.bandwidthOut = this.reals[l + 2] as number;
  }

  /** True when the node of slot `s` is of `service` and keeps its sessions (model.ts keepsSessions). */
  keepsSessions(s: number, service: string): boolean {
    return (
      this.nids[s] !== undefined &&
      this.serviceAt(s) === service &&
      keepsSessions({ state: this.stateAt(s), mark: this.markAt(s) })
    );
  }

  /** Sets the state of slot `s`: in `states` when it is a byte (but ODD_STATE), else beside it. */
  private setState(s: number, v: NodeState): void {
    if (v >>> 0 === v && v < ODD_STATE && (v !== 0 || 1 / v > 0)) {
      this.states[s] = v;
      if (this.oddStates.size > 0) this.oddStates.delete(s);
    } else {
      this.states[s] = ODD_STATE;
      this.oddStates.set(s, v);
    }
  }

  /** The count at index `c` of `counts`, exactly as it was set. */
  private countAt(c: number): number {
    const v = this.counts[c] as number;
    return v !== SPILLED ? v : (this.spilled.get(c) as number);
  }

  /** Sets the count at index `c` of `counts`: there when it is a uint32 (but SPILLED), else beside it. */
  private setCount(c: number, v: number): void {
    if (v >>> 0 === v && v !== SPILLED && (v !== 0 || 1 / v > 0)) {
      this.counts[c] = v;
      if (this.spilled.size > 0) this.spilled.delete(c);
    } else {
      this.counts[c] = SPILLED;
      this.spilled.set(c, v);
    }
  }

  private loadAt(s: number): Load {
    const l = s * REALS;
    const c = s * COUNTS;
    const reals = this.reals;
    return {
      cpu: reals[l] as number,
      sessions: this.countAt(c),
      tracks: this.countAt(c + 1),
      bandwidthIn: reals[l + 1] as number,
      bandwidthOut: reals[l + 2] as number,
    };
  }

  /** The node of slot `s` made from its id and profile: the fields in the order of ion's Node (one shape). */
  private nodeOf(s: number, p: NodeProfile): Node {
    return { dc: p.dc, nid: this.nids[s] as string, service: p.service, rpc: p.rpc };
  }

  /** One literal of toRecord's shape (every field of NodeRecord named), the mark only when there is one. */
  private withFigures(s: number, load: Load, state: NodeState, expiresAt: number, leaseMs: number): NodeRecord {
    const p = this.profiles[s] as NodeProfile;
    const i = s & (CACHE - 1);
    const next: Omit<Required<NodeRecord>, "mark"> = {
      node: this.cacheSlot[i] === s ? (this.cacheRecord[i] as NodeRecord).node : this.nodeOf(s, p),
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
    const cap = grown(this.cap);
    this.states = widened(this.states, cap);
    this.reals = widened(this.reals, cap * REALS);
    this.counts = widened(this.counts, cap * COUNTS);
    this.times = widened(this.times, cap * TIMES);
    this.cap = cap;
  }
}
