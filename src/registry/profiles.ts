/**
 * What many nodes have alike, kept once: a node's service, dc, RPC endpoint, region, limits
 * and extra info as one immutable profile that every node with the same ones (the same
 * objects: records.ts interns these strings, shares equal limits and endpoints without params,
 * and keeps one empty extra map) points to, so a node costs one pointer for the seven, and its
 * ion `Node` is made from its id and its profile when asked for rather than kept (56 bytes a
 * node). Nodes with extra info or an endpoint with params of their own get a profile of their
 * own (not kept here); at most 4096 profiles are kept.
 */
import type { ExtraValue, Limits, Node, NodeRecord } from "./model.js";

/** A node's service, dc, RPC endpoint, region, limits and extra info. Immutable. */
export interface NodeProfile {
  readonly service: string;
  readonly dc: string;
  readonly rpc: Node["rpc"];
  readonly region: string;
  readonly soft: Limits;
  readonly hard: Limits;
  readonly extra: ReadonlyMap<string, ExtraValue>;
}

const MAX_PROFILES = 4096;

/** True when `p` is what `r` has: the same strings, the same objects. */
const isOf = (p: NodeProfile, r: NodeRecord): boolean =>
  p.region === r.region &&
  p.soft === r.soft &&
  p.hard === r.hard &&
  p.extra === r.extra &&
  p.rpc === r.node.rpc &&
  p.service === r.node.service &&
  p.dc === r.node.dc;

export class Profiles {
  /** By service, dc and region (one string), then soft limits, hard limits and endpoint (the objects). */
  private readonly byPlace = new Map<string, Map<Limits, Map<Limits, Map<Node["rpc"], NodeProfile>>>>();
  private count = 0;

  /** The profile of `r`: `like` when it is the same (a heartbeat's record), else the kept one, else a new one. */
  of(r: NodeRecord, like: NodeProfile | undefined): NodeProfile {
    if (like !== undefined && isOf(like, r)) return like;
    const n = r.node;
    const made = (): NodeProfile => ({
      service: n.service,
      dc: n.dc,
      rpc: n.rpc,
      region: r.region,
      soft: r.soft,
      hard: r.hard,
      extra: r.extra,
    });
    if (r.extra.size > 0 || (n.rpc !== undefined && n.rpc.params.size > 0)) return made();
    const place = `${n.service}\u0000${n.dc}\u0000${r.region}`;
    let bySoft = this.byPlace.get(place);
    if (bySoft === undefined) {
      if (this.count >= MAX_PROFILES) return made();
      this.byPlace.set(place, (bySoft = new Map()));
    }
    let byHard = bySoft.get(r.soft);
    if (byHard === undefined) {
      if (this.count >= MAX_PROFILES) return made();
      bySoft.set(r.soft, (byHard = new Map()));
    }
    let byRpc = byHard.get(r.hard);
    if (byRpc === undefined) {
      if (this.count >= MAX_PROFILES) return made();
      byHard.set(r.hard, (byRpc = new Map()));
    }
    let p = byRpc.get(n.rpc);
    if (p === undefined) {
      p = made();
      if (this.count < MAX_PROFILES) {
        byRpc.set(n.rpc, p);
        this.count++;
      }
    }
    return p;
  }
}
