/**
 * What many nodes have alike, kept once: a node's region, limits and extra info as one
 * immutable profile that every node with the same ones (the same objects: records.ts shares
 * equal limits, interns region strings and keeps one empty extra map) points to, so a node
 * costs one pointer for the four. Nodes with extra info of their own get a profile of their
 * own (not kept here); at most 4096 profiles are kept.
 */
import type { ExtraValue, Limits, NodeRecord } from "./model.js";

/** A node's region, limits and extra info. Immutable. */
export interface NodeProfile {
  readonly region: string;
  readonly soft: Limits;
  readonly hard: Limits;
  readonly extra: ReadonlyMap<string, ExtraValue>;
}

const MAX_PROFILES = 4096;

export class Profiles {
  private readonly byRegion = new Map<string, Map<Limits, Map<Limits, NodeProfile>>>();
  private count = 0;

  /** The profile of `r`: `like` when it is the same (a heartbeat's record), else the kept one, else a new one. */
  of(r: NodeRecord, like: NodeProfile | undefined): NodeProfile {
    if (
      like !== undefined &&
      like.region === r.region &&
      like.soft === r.soft &&
      like.hard === r.hard &&
      like.extra === r.extra
    )
      return like;
    const made = (): NodeProfile => ({ region: r.region, soft: r.soft, hard: r.hard, extra: r.extra });
    if (r.extra.size > 0) return made();
    let bySoft = this.byRegion.get(r.region);
    if (bySoft === undefined) {
      if (this.count >= MAX_PROFILES) return made();
      this.byRegion.set(r.region, (bySoft = new Map()));
    }
    let byHard = bySoft.get(r.soft);
    if (byHard === undefined) {
      if (this.count >= MAX_PROFILES) return made();
      bySoft.set(r.soft, (byHard = new Map()));
    }
    let p = byHard.get(r.hard);
    if (p === undefined) {
      p = made();
      if (this.count < MAX_PROFILES) {
        byHard.set(r.hard, p);
        this.count++;
      }
    }
    return p;
  }
}
