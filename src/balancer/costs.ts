/**
 * The mean cost of a session on the nodes of one service, from what each node reports (its
 * figures over its sessions): the estimate for a node that reports no session yet. Kept as
 * running sums, so a report updates it in O(1).
 */
import { DEFAULT_COST, MEASURES, type Measure, type SessionCost } from "./score.js";

export class CostMean {
  private readonly sum: Record<Measure, number> = { cpu: 0, sessions: 0, tracks: 0, bandwidth: 0 };
  private n = 0;
  private cached: SessionCost | undefined = DEFAULT_COST;

  /** Counts a node's own per-session cost in (`sign` 1), or out again (-1). */
  add(cost: SessionCost, sign: 1 | -1): void {
    for (const m of MEASURES) this.sum[m] += sign * cost[m];
    this.n += sign;
    this.cached = undefined;
  }

  /** True when no node is counted in. */
  get empty(): boolean {
    return this.n <= 0;
  }

  /** The mean over the nodes counted in, or the default estimate while none is. */
  get mean(): SessionCost {
    if (this.cached !== undefined) return this.cached;
    if (this.n <= 0) return (this.cached = DEFAULT_COST);
    const n = this.n;
    return (this.cached = {
      cpu: this.sum.cpu / n,
      sessions: 1,
      tracks: this.sum.tracks / n,
      bandwidth: this.sum.bandwidth / n,
    });
  }
}
