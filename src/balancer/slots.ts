/**
 * What the balancer keeps per node, as columns: each node is known by its slot in the
 * registry view's table (see NodeTable: a small integer, reused once the node leaves) and
 * the balancer's figures sit at that index of typed arrays, so 100,000 nodes cost a few
 * arrays and no map entry or object apiece, and a sift in a heap reads contiguous memory.
 */
import type { SlotPositions } from "./heap.js";
import type { SessionCost, Standing } from "./score.js";
import { grown, widened } from "../registry/capacity.js";

/** Standings as stored (FREE: the slot holds no node). */
export const UNDER = 0;
export const OVER = 1;
export const CLOSED = 2;
const FREE = 255;

export const STANDINGS: readonly Standing[] = ["under", "over", "closed"];
export const standingCode = (s: Standing): number => (s === "under" ? UNDER : s === "over" ? OVER : CLOSED);

/** Where a slot's node is placed: its zone's heaps (see Balancer). */
export interface ZoneRef {
  readonly service: string;
  readonly name: string;
}

export class NodeSlots<Z extends ZoneRef> implements SlotPositions {
  private cap = 0;
  private count = 0;
  /** The longest prefix every node id seen since the last clear shares (undefined: none seen). */
  private prefix: string | undefined;
  /** Called when the tie keys were computed anew (the common prefix shrank). */
  onRetie: () => void = () => {};
  /** @param nidAt the id of the node in a slot (the view's table has it). */
  constructor(private readonly nidAt: (s: number) => string) {}
  /** The zone the node was last placed in (undefined while it is in none). */
  zones: (Z | undefined)[] = [];
  /** Position in its zone's heap, -1 when in none (see SlotHeap). */
  pos = new Int32Array(0);
  /** Sessions placed since the node's last heartbeat. */
  pending = new Int32Array(0);
  standing = new Uint8Array(0);
  /** What one more session adds to the node's cpu, tracks and bandwidth (sessions: 1), see sessionCost. */
  costCpu = new Float64Array(0);
  costTracks = new Float64Array(0);
  costBandwidth = new Float64Array(0);

  get size(): number {
    return this.count;
  }

  /** True when slot `s` holds a node the balancer took in. */
  has(s: number): boolean {
    return s >= 0 && s < this.cap && this.standing[s] !== FREE;
  }

  /** Takes in the node of slot `s`, not seen yet (its columns zeroed, closed, in no heap). */
  add(s: number): void {
    while (s >= this.cap) this.grow();
    this.shrinkPrefix(this.nidAt(s));
    this.count++;
    while (this.zones.length < s) this.zones.push(undefined);
    this.zones[s] = undefined;
    this.pos[s] = -1;
    this.pending[s] = 0;
    this.standing[s] = CLOSED;
  }

  /** Forgets the node of slot `s`, which left (call after it left its heap). */
  release(s: number): void {
    this.count--;
    this.zones[s] = undefined;
    this.standing[s] = FREE;
  }

  clear(): void {
    this.count = 0;
    this.standing.fill(FREE);
    this.zones = [];
    this.prefix = undefined;
  }

  /**
   * A number that orders node ids as they order (a lesser number: a lesser id), or is equal
   * (then compare the ids): 7 UTF-16 units past the prefix all ids share, 7 bits each (units
   * above 127 count as 127), so a tie in a heap compares two numbers instead of following two
   * pointers to two strings.
   */
  tieKey(s: number): number {
    const nid = this.nidAt(s);
    const from = this.prefix?.length ?? 0;
    let k = 0;
    for (let i = from; i < from + 7; i++) k = k * 128 + (i < nid.length ? Math.min(nid.charCodeAt(i), 127) : 0);
    return k;
  }

  private shrinkPrefix(nid: string): void {
    const p = this.prefix;
    if (p === undefined) {
      this.prefix = nid;
      return;
    }
    if (nid.startsWith(p)) return;
    let i = 0;
    while (i < p.length && i < nid.length && p.charCodeAt(i) === nid.charCodeAt(i)) i++;
    this.prefix = p.slice(0, i);
    this.onRetie();
  }

  /** The node's session cost, into `out` (a scratch object: no allocation). */
  costInto(s: number, out: { cpu: number; sessions: number; tracks: number; bandwidth: number }): SessionCost {
    out.cpu = this.costCpu[s] as number;
    out.sessions = 1;
    out.tracks = this.costTracks[s] as number;
    out.bandwidth = this.costBandwidth[s] as number;
    return out;
  }

  setCost(s: number, c: SessionCost): void {
    this.costCpu[s] = c.cpu;
    this.costTracks[s] = c.tracks;
    this.costBandwidth[s] = c.bandwidth;
  }

  private grow(): void {
    const cap = grown(this.cap);
    this.pos = widened(this.pos, cap);
    this.pending = widened(this.pending, cap);
    const standing = new Uint8Array(cap).fill(FREE);
    standing.set(this.standing);
    this.standing = standing;
    this.costCpu = widened(this.costCpu, cap);
    this.costTracks = widened(this.costTracks, cap);
    this.costBandwidth = widened(this.costBandwidth, cap);
    this.cap = cap;
  }
}
