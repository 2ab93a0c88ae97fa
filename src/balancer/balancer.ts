/**
 * Picks nodes for new sessions: only SERVING nodes without an operator's mark (cordon, drain)
 * and under their hard limits; the caller's
 * region first; nodes under their soft limits before nodes over them; least loaded first by
 * the configured measure, or the lesser of two random choices (to avoid herding on one node
 * between heartbeats). Kept current from the registry's change feed; a pick is O(regions)
 * and an update O(log n), whatever the cluster's size.
 */
import type { RegistryView } from "../registry/view.js";
import type { NodeRecord, RegistryEvent } from "../registry/types.js";
import { CostMean } from "./costs.js";
import { IndexedHeap, type HeapItem } from "./heap.js";
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

class Entry implements HeapItem {
  slot = -1;
  score = 0;
  /** Sessions placed since the node's last heartbeat. */
  pending = 0;
  standing: Standing = "closed";
  /** What one more session adds to this node's figures (see sessionCost). */
  cost: SessionCost = DEFAULT_COST;
  /** The node's own cost per session, counted in its service's mean; undefined while it reports no session. */
  own: SessionCost | undefined;
  constructor(
    public record: NodeRecord,
    public zone: string,
  ) {}
}

const before = (a: Entry, b: Entry): boolean =>
  a.score < b.score || (a.score === b.score && a.record.node.nid < b.record.node.nid);

/** The heaps of one zone (region, else dc) of one service. */
class Zone {
  readonly under = new IndexedHeap<Entry>(before);
  readonly over = new IndexedHeap<Entry>(before);
  heap(s: Standing): IndexedHeap<Entry> | undefined {
    return s === "under" ? this.under : s === "over" ? this.over : undefined;
  }
  get size(): number {
    return this.under.size + this.over.size;
  }
}

/** A node's zone: its region, else its dc. */
export const zoneOf = (r: NodeRecord): string => r.region || r.node.dc;

export class Balancer {
  private readonly entries = new Map<string, Entry>();
  private readonly services = new Map<string, Map<string, Zone>>();
  private readonly costs = new Map<string, CostMean>();
  private readonly measure: Measure;
  private readonly twoChoices: boolean;
  private readonly random: () => number;
  private readonly unsubscribe: () => void;
  private readonly unsubscribeResync: () => void;

  constructor(view: RegistryView, options: BalancerOptions = {}) {
    this.measure = options.measure ?? "sessions";
    this.twoChoices = options.twoChoices ?? false;
    this.random = options.random ?? Math.random;
    for (const r of view.nodesOf("*")) this.upsert(r);
    this.unsubscribe = view.subscribe((e) => this.onChange(e));
    this.unsubscribeResync = view.onResync(() => {
      this.entries.clear();
      this.services.clear();
      this.costs.clear();
      for (const r of view.nodesOf("*")) this.upsert(r);
    });
  }

  close(): void {
    this.unsubscribe();
    this.unsubscribeResync();
  }

  private onChange(e: RegistryEvent): void {
    if (e.type === "down" || e.type === "expired") this.remove(e.record.node.nid);
    else this.upsert(e.record, e.type === "updated" || e.type === "draining");
  }

  private zone(service: string, zone: string): Zone {
    let zones = this.services.get(service);
    if (zones === undefined) this.services.set(service, (zones = new Map()));
    let z = zones.get(zone);
    if (z === undefined) zones.set(zone, (z = new Zone()));
    return z;
  }

  private costsOf(service: string): CostMean {
    let c = this.costs.get(service);
    if (c === undefined) this.costs.set(service, (c = new CostMean()));
    return c;
  }

  private detach(e: Entry): void {
    const service = e.record.node.service;
    const zones = this.services.get(service);
    const z = zones?.get(e.zone);
    if (z === undefined || zones === undefined) return;
    z.heap(e.standing)?.remove(e);
    if (z.size === 0) zones.delete(e.zone);
    if (zones.size === 0) this.services.delete(service);
  }

  private attach(e: Entry): void {
    e.score = score(this.measure, e.record, e.pending, e.cost);
    e.standing = standing(e.record, e.pending, e.cost);
    this.zone(e.record.node.service, e.zone).heap(e.standing)?.push(e);
  }

  /** Takes the node's report into its service's mean cost per session, and its own estimate from both. */
  private costIn(e: Entry): void {
    const costs = this.costsOf(e.record.node.service);
    e.own = e.record.load.sessions > 0 ? ownCost(e.record.load) : undefined;
    if (e.own !== undefined) costs.add(e.own, 1);
    e.cost = sessionCost(e.record.load, costs.mean);
  }

  private costOut(e: Entry): void {
    const service = e.record.node.service;
    const costs = this.costs.get(service);
    if (costs === undefined || e.own === undefined) return;
    costs.add(e.own, -1);
    if (!this.services.has(service) && costs.empty) this.costs.delete(service);
  }

  /** A heartbeat resets the placements counted since the last one: the node's own figures now include them. */
  private upsert(r: NodeRecord, reported = true): void {
    const nid = r.node.nid;
    const cur = this.entries.get(nid);
    if (cur === undefined) {
      const e = new Entry(r, zoneOf(r));
      this.entries.set(nid, e);
      this.costIn(e);
      this.attach(e);
      return;
    }
    this.detach(cur);
    this.costOut(cur);
    cur.record = r;
    cur.zone = zoneOf(r);
    if (reported) cur.pending = 0;
    this.costIn(cur);
    this.attach(cur);
  }

  private remove(nid: string): void {
    const e = this.entries.get(nid);
    if (e === undefined) return;
    this.detach(e);
    this.costOut(e);
    this.entries.delete(nid);
  }

  /** Counts a session just placed on `nid` until its next heartbeat. */
  notePlaced(nid: string): void {
    const e = this.entries.get(nid);
    if (e === undefined) return;
    e.pending++;
    // Still in the same heap (the common case): one sift from where it is, not a remove and a push.
    const z = this.services.get(e.record.node.service)?.get(e.zone);
    const heap = z?.heap(e.standing);
    if (heap !== undefined && standing(e.record, e.pending, e.cost) === e.standing) {
      e.score = score(this.measure, e.record, e.pending, e.cost);
      heap.update(e);
      return;
    }
    this.detach(e);
    this.attach(e);
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
    for (const s of ["under", "over"] as const) {
      const local = homeZone?.heap(s);
      if (local !== undefined && local.size > 0) {
        if (trace !== undefined) trace.tier = "home";
        return this.choose([local], trace);
      }
      const all = [...zones.values()].map((z) => z.heap(s) as IndexedHeap<Entry>).filter((h) => h.size > 0);
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
    for (const s of ["under", "over"] as const) {
      for (const scope of [homeZone === undefined ? [] : [homeZone], [...zones.values()]]) {
        let best: Entry | undefined;
        for (const z of scope) {
          const h = z.heap(s) as IndexedHeap<Entry>;
          for (let i = 0; i < h.size; i++) {
            const e = h.at(i) as Entry;
            if (!exclude.has(e.record.node.nid) && (best === undefined || before(e, best))) best = e;
          }
        }
        if (best !== undefined) {
          if (trace !== undefined) trace.tier = scope.length === 1 && scope[0] === homeZone ? "home" : "other";
          return best.record.node.nid;
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
      const e = this.entries.get(r.node.nid);
      const pending = e?.pending ?? 0;
      const cost = e?.cost ?? DEFAULT_COST;
      const zone = zoneOf(r);
      out.push({
        record: r,
        score: e?.score ?? score(this.measure, r, 0),
        standing: e?.standing ?? standing(r, 0),
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

  private choose(heaps: IndexedHeap<Entry>[], trace?: PickTrace): string {
    if (!this.twoChoices) {
      let best: Entry | undefined;
      for (const h of heaps) {
        const top = h.peek() as Entry;
        if (best === undefined || before(top, best)) best = top;
      }
      return (best as Entry).record.node.nid;
    }
    const total = heaps.reduce((n, h) => n + h.size, 0);
    const at = (i: number): Entry => {
      for (const h of heaps) {
        if (i < h.size) return h.at(i) as Entry;
        i -= h.size;
      }
      throw new Error("index out of range");
    };
    const a = at(Math.floor(this.random() * total));
    const b = at(Math.floor(this.random() * total));
    if (trace !== undefined) trace.drawn = [a.record.node.nid, b.record.node.nid];
    return (before(a, b) ? a : b).record.node.nid;
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
      const e = this.entries.get(r.node.nid);
      const st = e?.standing ?? standing(r, 0);
      const k = rank(st) * 2 + (home !== "" && zoneOf(r) === home ? 0 : 1);
      keyed.push({ r, k: st === "closed" ? 4 : k, s: e?.score ?? score(this.measure, r, 0) });
    }
    keyed.sort((a, b) => a.k - b.k || a.s - b.s || (a.r.node.nid < b.r.node.nid ? -1 : 1));
    const out = keyed.map((x) => x.r);
    return limit > 0 ? out.slice(0, limit) : out;
  }
}
