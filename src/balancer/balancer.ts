/**
 * Picks nodes for new sessions: only SERVING nodes without an operator's mark (cordon, drain)
 * and under their hard limits; the caller's
 * region first; nodes under their soft limits before nodes over them; least loaded first by
 * the configured measure, or the lesser of two random choices (to avoid herding on one node
 * between heartbeats). Kept current from the registry's change feed; a pick is O(regions)
 * and an update O(log n), whatever the cluster's size.
 */
import type { RegistryView } from "../registry/view.js";
import type { NodeFigures, NodeTable } from "../registry/node-table.js";
import type { Load, Node, NodeRecord, RegistryEvent } from "../registry/types.js";
import { CostMean } from "./costs.js";
import { SlotHeap } from "./heap.js";
import { CLOSED, NodeSlots, OVER, STANDINGS, UNDER, standingCode, type ZoneRef } from "./slots.js";
import {
  DEFAULT_COST,
  ownCost,
  score,
  sessionCost,
  standing,
  standingReason,
  type Measure,
  type SessionCost,
  type Standing,
} from "./score.js";

export interface BalancerOptions {
  /** The figure nodes are compared by (default "sessions"). */
  measure?: Measure;
  /** Pick the lesser of two random eligible nodes instead of the least loaded (default false). */
  twoChoices?: boolean;
  /** Random numbers in [0, 1), for tests (default Math.random). */
  random?: () => number;
}

/** What a pick went through, filled in when a lookup is explained (never on the normal path). */
export interface PickTrace {
  /** Two-choices: the two nodes drawn. */
  drawn: string[];
  /** Where the pick came from: "home" (the caller's zone) or "other". */
  tier: string;
}

/** One node of a service as the balancer sees it now, for an explained lookup. */
export interface CandidateView {
  readonly record: NodeRecord;
  readonly score: number;
  readonly standing: Standing;
  /** The figure or state that decided the standing. */
  readonly reason: string;
  readonly zone: string;
  readonly tier: "home" | "other";
  readonly pending: number;
}

/** The caller's location, preferred when placing. */
export interface Preference {
  region?: string;
  dc?: string;
}

/** The heaps of one zone (region, else dc) of one service. */
class Zone implements ZoneRef {
  readonly under: SlotHeap;
  readonly over: SlotHeap;
  constructor(
    readonly service: string,
    readonly name: string,
    slots: NodeSlots<Zone>,
    tieBefore: (a: number, b: number) => boolean,
  ) {
    this.under = new SlotHeap(slots, tieBefore);
    this.over = new SlotHeap(slots, tieBefore);
  }
  heap(s: number): SlotHeap | undefined {
    return s === UNDER ? this.under : s === OVER ? this.over : undefined;
  }
  get size(): number {
    return this.under.size + this.over.size;
  }
  retie(tieOf: (slot: number) => number): void {
    this.under.retie(tieOf);
    this.over.retie(tieOf);
  }
}

/** A node's zone: its region, else its dc. */
export const zoneOf = (r: Pick<NodeRecord, "region" | "node">): string => r.region || r.node.dc;

/** A node's figures read from the view's table, reused for every read (no allocation). */
type Scratch = { -readonly [K in keyof NodeFigures]: NodeFigures[K] } & { load: Load; node: Node };

export class Balancer {
  /** The view's nodes: the balancer's slots are theirs. */
  private readonly table: NodeTable;
  private readonly slots: NodeSlots<Zone>;
  private readonly services = new Map<string, Map<string, Zone>>();
  private readonly costs = new Map<string, CostMean>();
  private readonly measure: Measure;
  private readonly twoChoices: boolean;
  private readonly random: () => number;
  private readonly unsubscribe: () => void;
  private readonly unsubscribeResync: () => void;
  private readonly unsubscribeBefore: () => void;
  private readonly fig: Scratch;
  /** Reused for every read of a node's session cost from its columns. */
  private readonly scratch = { cpu: 0, sessions: 1, tracks: 0, bandwidth: 0 };
  /** Ties (equal scores) go to the lesser node id. */
  private readonly tieBefore = (a: number, b: number): boolean => this.table.nidAt(a) < this.table.nidAt(b);

  constructor(view: RegistryView, options: BalancerOptions = {}) {
    const table = view.table;
    this.table = table;
    this.slots = new NodeSlots<Zone>((s) => table.nidAt(s));
    this.fig = {
      node: { dc: "", nid: "", service: "", rpc: undefined },
      state: 0,
      region: "",
      load: { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      soft: { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      hard: { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      mark: undefined,
    };
    this.measure = options.measure ?? "sessions";
    this.twoChoices = options.twoChoices ?? false;
    this.random = options.random ?? Math.random;
    this.slots.onRetie = () => {
      const tieOf = (s: number): number => this.slots.tieKey(s);
      for (const zones of this.services.values()) for (const z of zones.values()) z.retie(tieOf);
    };
    this.takeAll();
    this.unsubscribe = view.subscribe((e, s) => this.onChange(e, s));
    this.unsubscribeBefore = view.onBeforeChange((s) => {
      if (this.slots.has(s)) this.costOut(s);
    });
    this.unsubscribeResync = view.onResync(() => {
      this.slots.clear();
      this.services.clear();
      this.costs.clear();
      this.takeAll();
    });
  }

  close(): void {
    this.unsubscribe();
    this.unsubscribeBefore();
    this.unsubscribeResync();
  }

  /** Takes in every node of the view's table. */
  private takeAll(): void {
    for (let s = 0; s < this.table.end; s++) if (this.table.has(s)) this.upsert(s);
  }

  private onChange(e: RegistryEvent, s: number): void {
    if (s < 0) return;
    if (e.type === "down" || e.type === "expired") this.remove(s);
    else this.upsert(s, e.type === "updated" || e.type === "draining");
  }

  /** The figures of slot `s` as the view's table has them now (a scratch object, its node too: valid until the next read). */
  private figures(s: number): NodeFigures {
    this.table.figuresInto(s, this.fig);
    return this.fig;
  }

  /** The slot of node `nid` when the balancer has it. */
  private slotOfNid(nid: string): number | undefined {
    const s = this.table.slotOf(nid);
    return s !== undefined && this.slots.has(s) ? s : undefined;
  }

  private zone(service: string, name: string): Zone {
    let zones = this.services.get(service);
    if (zones === undefined) this.services.set(service, (zones = new Map()));
    let z = zones.get(name);
    if (z === undefined) zones.set(name, (z = new Zone(service, name, this.slots, this.tieBefore)));
    return z;
  }

  private costsOf(service: string): CostMean {
    let c = this.costs.get(service);
    if (c === undefined) this.costs.set(service, (c = new CostMean()));
    return c;
  }

  /** True when slot `a` comes before slot `b` (score, then node id). */
  private before(a: number, ka: number, b: number, kb: number): boolean {
    return ka < kb || (ka === kb && this.tieBefore(a, b));
  }

  private costOf(s: number): SessionCost {
    return this.slots.costInto(s, this.scratch);
  }

  private scoreOf(s: number): number {
    return score(this.measure, this.figures(s), this.slots.pending[s] as number, this.costOf(s));
  }

  /** The score of slot `s` now: its key in its heap (kept current), else computed. */
  private currentScore(s: number): number {
    const h = this.slots.zones[s]?.heap(this.slots.standing[s] as number);
    return h === undefined ? this.scoreOf(s) : h.keyOf(s);
  }

  private standingOf(s: number): number {
    return standingCode(standing(this.figures(s), this.slots.pending[s] as number, this.costOf(s)));
  }

  private detach(s: number): void {
    const z = this.slots.zones[s];
    if (z === undefined) return;
    this.slots.zones[s] = undefined;
    z.heap(this.slots.standing[s] as number)?.remove(s);
    if (z.size > 0) return;
    const zones = this.services.get(z.service);
    if (zones === undefined || zones.get(z.name) !== z) return;
    zones.delete(z.name);
    if (zones.size === 0) this.services.delete(z.service);
  }

  private attach(s: number): void {
    const st = this.standingOf(s);
    this.slots.standing[s] = st;
    if (st === CLOSED) return;
    const r = this.figures(s);
    const z = this.zone(r.node.service, zoneOf(r));
    this.slots.zones[s] = z;
    (z.heap(st) as SlotHeap).push(s, this.scoreOf(s), this.slots.tieKey(s));
  }

  /** Takes the node's report into its service's mean cost per session, and its own estimate from both. */
  private costIn(s: number): void {
    const r = this.figures(s);
    const costs = this.costsOf(r.node.service);
    if (r.load.sessions > 0) costs.add(ownCost(r.load), 1);
    this.slots.setCost(s, sessionCost(r.load, costs.mean));
  }

  /**
   * Takes the node's report out again (its own cost is computed anew from the same figures:
   * call before the view's table takes the node's next ones).
   */
  private costOut(s: number): void {
    const r = this.figures(s);
    const service = r.node.service;
    const costs = this.costs.get(service);
    if (costs === undefined || !(r.load.sessions > 0)) return;
    costs.add(ownCost(r.load), -1);
    if (!this.services.has(service) && costs.empty) this.costs.delete(service);
  }

  /**
   * Takes in the node of slot `cur` as the view's table has it now (its old report taken out by
   * onBeforeChange). A heartbeat resets the placements counted since the last one: the node's
   * own figures now include them.
   */
  private upsert(cur: number, reported = true): void {
    if (!this.slots.has(cur)) {
      this.slots.add(cur);
      this.costIn(cur);
      this.attach(cur);
      return;
    }
    const z = this.slots.zones[cur];
    const was = this.slots.standing[cur] as number;
    if (reported) this.slots.pending[cur] = 0;
    this.costIn(cur);
    // The usual heartbeat: same zone, same standing: the key changes in place (no remove and push).
    if (z !== undefined && this.standingOf(cur) === was && this.inZone(cur, z)) {
      (z.heap(was) as SlotHeap).update(cur, this.scoreOf(cur));
      return;
    }
    this.detach(cur);
    this.attach(cur);
  }

  /** True when the node of slot `s` belongs in zone `z` (its service and zone are z's). */
  private inZone(s: number, z: Zone): boolean {
    const r = this.figures(s);
    return z.service === r.node.service && z.name === zoneOf(r);
  }

  /** Forgets the node of slot `s`, which left (the view's table still holds its figures). */
  private remove(s: number): void {
    if (!this.slots.has(s)) return;
    this.detach(s);
    this.costOut(s);
    this.slots.release(s);
  }

  /** Counts a session just placed on `nid` until its next heartbeat. */
  notePlaced(nid: string): void {
    const s = this.slotOfNid(nid);
    if (s === undefined) return;
    this.slots.pending[s] = (this.slots.pending[s] as number) + 1;
    const st = this.slots.standing[s] as number;
    const z = this.slots.zones[s];
    // Still in the same heap (the common case): one sift from where it is, not a remove and a push.
    if (st === this.standingOf(s)) {
      if (z !== undefined) z.heap(st)?.update(s, this.scoreOf(s));
      return;
    }
    this.detach(s);
    this.attach(s);
  }

  /**
   * The node for a new session of `service`, or undefined when none can take one. `exclude`:
   * nodes the store refused just now (its view is ahead of ours); `trace` is filled in for an
   * explained lookup.
   */
  pick(service: string, pref: Preference = {}, exclude?: ReadonlySet<string>, trace?: PickTrace): string | undefined {
    const zones = this.services.get(service);
    if (zones === undefined) return undefined;
    const home = pref.region || pref.dc || "";
    const homeZone = home === "" ? undefined : zones.get(home);
    if (exclude !== undefined && exclude.size > 0) return this.pickExcluding(zones, homeZone, exclude, trace);
    for (let s = UNDER; s <= OVER; s++) {
      const local = homeZone?.heap(s);
      if (local !== undefined && local.size > 0) {
        if (trace !== undefined) trace.tier = "home";
        return this.twoChoices ? this.choose([local], trace) : this.table.nidAt(local.peek());
      }
      const all = [...zones.values()].map((z) => z.heap(s) as SlotHeap).filter((h) => h.size > 0);
      if (all.length > 0) {
        if (trace !== undefined) trace.tier = "other";
        return this.choose(all, trace);
      }
    }
    return undefined;
  }

  /** The best node but those excluded, by the same order (a scan: only after the store refused a candidate). */
  private pickExcluding(
    zones: Map<string, Zone>,
    homeZone: Zone | undefined,
    exclude: ReadonlySet<string>,
    trace: PickTrace | undefined,
  ): string | undefined {
    for (const s of [UNDER, OVER]) {
      for (const scope of [homeZone === undefined ? [] : [homeZone], [...zones.values()]]) {
        let best = -1;
        let bestKey = 0;
        for (const z of scope) {
          const h = z.heap(s) as SlotHeap;
          for (let i = 0; i < h.size; i++) {
            const e = h.at(i);
            const k = h.keyAt(i);
            if (!exclude.has(this.table.nidAt(e)) && (best < 0 || this.before(e, k, best, bestKey))) {
              best = e;
              bestKey = k;
            }
          }
        }
        if (best >= 0) {
          if (trace !== undefined) trace.tier = scope.length === 1 && scope[0] === homeZone ? "home" : "other";
          return this.table.nidAt(best);
        }
      }
    }
    return undefined;
  }

  /** Every node of `nodes` as the balancer sees it now, best first (for explained lookups). */
  candidates(nodes: Iterable<NodeRecord>, pref: Preference = {}): CandidateView[] {
    const home = pref.region || pref.dc || "";
    const out: CandidateView[] = [];
    for (const r of this.ranked(nodes, pref)) {
      const s = this.slotOfNid(r.node.nid);
      const pending = s === undefined ? 0 : (this.slots.pending[s] as number);
      const cost = s === undefined ? DEFAULT_COST : { ...this.costOf(s) };
      const zone = zoneOf(r);
      out.push({
        record: r,
        score: s === undefined ? score(this.measure, r, 0) : this.scoreOf(s),
        standing: s === undefined ? standing(r, 0) : (STANDINGS[this.slots.standing[s] as number] as Standing),
        reason: standingReason(r, pending, cost),
        zone,
        tier: home !== "" && zone === home ? "home" : "other",
        pending,
      });
    }
    return out;
  }

  /** The measure and whether two random choices are drawn. */
  get settings(): { measure: Measure; twoChoices: boolean } {
    return { measure: this.measure, twoChoices: this.twoChoices };
  }

  private choose(heaps: SlotHeap[], trace?: PickTrace): string {
    if (!this.twoChoices) {
      let best = -1;
      let bestKey = 0;
      for (const h of heaps) {
        const top = h.peek();
        const k = h.keyAt(0);
        if (best < 0 || this.before(top, k, best, bestKey)) {
          best = top;
          bestKey = k;
        }
      }
      return this.table.nidAt(best);
    }
    const total = heaps.reduce((n, h) => n + h.size, 0);
    const at = (i: number): [number, number] => {
      for (const h of heaps) {
        if (i < h.size) return [h.at(i), h.keyAt(i)];
        i -= h.size;
      }
      throw new Error("index out of range");
    };
    const [a, ka] = at(Math.floor(this.random() * total));
    const [b, kb] = at(Math.floor(this.random() * total));
    const na = this.table.nidAt(a);
    const nb = this.table.nidAt(b);
    if (trace !== undefined) trace.drawn = [na, nb];
    return this.before(a, ka, b, kb) ? na : nb;
  }

  /**
   * The nodes of `service` ("" or "*": all) best first: those taking sessions (home zone,
   * under soft limits, least loaded first), then the closed ones (draining, at hard limits).
   * A listing: O(n log n) in the nodes listed.
   */
  ranked(nodes: Iterable<NodeRecord>, pref: Preference = {}, limit = 0): NodeRecord[] {
    const home = pref.region || pref.dc || "";
    const rank = (s: Standing): number => (s === "under" ? 0 : s === "over" ? 1 : 2);
    const keyed: Array<{ r: NodeRecord; k: number; s: number }> = [];
    for (const r of nodes) {
      const slot = this.slotOfNid(r.node.nid);
      const st = slot === undefined ? standing(r, 0) : (STANDINGS[this.slots.standing[slot] as number] as Standing);
      const k = rank(st) * 2 + (home !== "" && zoneOf(r) === home ? 0 : 1);
      keyed.push({
        r,
        k: st === "closed" ? 4 : k,
        s: slot === undefined ? score(this.measure, r, 0) : this.currentScore(slot),
      });
    }
    keyed.sort((a, b) => a.k - b.k || a.s - b.s || (a.r.node.nid < b.r.node.nid ? -1 : 1));
    const out = keyed.map((x) => x.r);
    return limit > 0 ? out.slice(0, limit) : out;
  }
}
