/**
 * Explained lookups (FindNodeRequest.explain): beside the answer, every node of the service as
 * the balancer saw it before the pick (score, standing and the figure that decided it, zone
 * and tier, lease left, state, pending placements, the operator's mark) and, for two-choices,
 * the two drawn. Built only when asked for: the normal path allocates nothing for it.
 */
import type { Candidate, Explanation } from "../../generated/islb/islb.js";
import type { Balancer, PickTrace, Preference } from "../balancer/balancer.js";
import { toMarkMessage } from "../registry/marks.js";
import type { NodeRecord } from "../registry/types.js";

/** What a lookup did, as Explanation.outcome says it. */
export type Outcome = "known" | "placed" | "list" | "node" | "none";

/** The candidates as the balancer sees them now (call before the pick). */
export function explainStart(balancer: Balancer, nodes: Iterable<NodeRecord>, pref: Preference): Explanation {
  const now = Date.now();
  const { measure, twoChoices } = balancer.settings;
  const candidates: Candidate[] = balancer.candidates(nodes, pref).map((c) => ({
    nid: c.record.node.nid,
    score: c.score,
    standing: c.standing,
    reason: c.reason,
    zone: c.zone,
    tier: c.tier,
    leaseLeftMs: Math.max(0, c.record.expiresAt - now),
    state: c.record.state,
    pending: c.pending,
    mark: c.record.mark === undefined ? undefined : toMarkMessage(c.record.mark),
    chosen: false,
  }));
  return {
    outcome: "none",
    chosen: "",
    measure,
    twoChoices,
    drawn: [],
    homeZone: pref.region || pref.dc || "",
    candidates,
    host: "",
    tier: "",
  };
}

/** Completes an explanation with what the lookup did. */
export function explainEnd(
  e: Explanation,
  outcome: Outcome,
  chosen: string,
  trace: PickTrace | undefined,
): Explanation {
  e.outcome = outcome;
  e.chosen = chosen;
  if (outcome === "known") e.host = chosen;
  if (trace !== undefined) {
    e.drawn = trace.drawn;
    e.tier = trace.tier;
  }
  for (const c of e.candidates) c.chosen = c.nid === chosen;
  return e;
}
