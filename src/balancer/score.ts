/** How loaded a node is, by a chosen measure, and where it stands against its limits. */
import { NodeState, takesNewSessions, type Limits, type Load, type NodeRecord } from "../registry/types.js";

/** What scores and standings read of a node (a NodeRecord is one). */
export type Figures = Pick<NodeRecord, "state" | "mark" | "load" | "soft" | "hard">;

/** The figure nodes are compared by. */
export type Measure = "cpu" | "sessions" | "tracks" | "bandwidth";

export const MEASURES: readonly Measure[] = ["cpu", "sessions", "tracks", "bandwidth"];

/** What one session adds to each figure of a node. */
export type SessionCost = Readonly<Record<Measure, number>>;

/** The estimate of a session's cost before any node of a service has reported one. */
export const DEFAULT_COST: SessionCost = { cpu: 0.01, sessions: 1, tracks: 2, bandwidth: 1_000_000 };

export function figure(m: Measure, x: Load | Limits): number {
  switch (m) {
    case "cpu":
      return x.cpu;
    case "sessions":
      return x.sessions;
    case "tracks":
      return x.tracks;
    case "bandwidth":
      return Number(x.bandwidthIn) + Number(x.bandwidthOut);
  }
}

/** How many sessions of the service's mean cost a node's own figures are blended with. */
const PRIOR_SESSIONS = 4;

/**
 * What one more session is expected to add to each figure of a node, for the sessions placed
 * on it since its last report: its own figures per session (a node of half the size shows
 * twice the CPU per session), blended with `mean` (the service's mean) as if it carried
 * `PRIOR_SESSIONS` more sessions of that cost, so one or two small sessions do not make it
 * look cheap; never below `mean`, because the node picked is the one that looks least loaded
 * and an estimate too low sends it a whole burst before its next report (a node that reports
 * no session yet, such as one just restarted, is judged by `mean`).
 */
export function sessionCost(load: Load, mean: SessionCost): SessionCost {
  const n = load.sessions;
  if (n <= 0) return mean;
  const k = PRIOR_SESSIONS;
  const blend = (own: number, m: Measure): number => Math.max(mean[m], (own + k * mean[m]) / (n + k));
  return {
    cpu: blend(load.cpu, "cpu"),
    sessions: 1,
    tracks: blend(load.tracks, "tracks"),
    bandwidth: blend(figure("bandwidth", load), "bandwidth"),
  };
}

/** A node's own figures per session (what its service's mean is made of). */
export function ownCost(load: Load): SessionCost {
  const n = load.sessions;
  return { cpu: load.cpu / n, sessions: 1, tracks: load.tracks / n, bandwidth: figure("bandwidth", load) / n };
}

/** A figure with the sessions placed since the last heartbeat counted in. */
function withPending(m: Measure, load: Load, pending: number, cost: SessionCost): number {
  return figure(m, load) + pending * cost[m];
}

/**
 * The node's score by measure `m`: its figure (with pending placements at their estimated
 * cost) relative to its capacity for it (the soft limit, else the hard limit, else 1), so
 * nodes of different sizes compare fairly. Lower is better.
 */
export function score(m: Measure, r: Figures, pending: number, cost: SessionCost = DEFAULT_COST): number {
  const cap = figure(m, r.soft) || figure(m, r.hard) || 1;
  return withPending(m, r.load, pending, cost) / cap;
}

/** True when any figure with a limit set (> 0) has reached it, counting the sessions placed since the last report. */
export function reached(load: Load, limits: Limits, pending: number, cost: SessionCost = DEFAULT_COST): boolean {
  for (const m of MEASURES) {
    const lim = figure(m, limits);
    if (lim > 0 && withPending(m, load, pending, cost) >= lim) return true;
  }
  return false;
}

/** Where a node stands for new sessions. */
export type Standing = "under" | "over" | "closed";

/** under: takes sessions; over: past a soft limit (used when no node is under); closed: draining, cordoned or past a hard limit. */
export function standing(r: Figures, pending: number, cost: SessionCost = DEFAULT_COST): Standing {
  if (!takesNewSessions(r)) return "closed";
  if (reached(r.load, r.hard, pending, cost)) return "closed";
  return reached(r.load, r.soft, pending, cost) ? "over" : "under";
}

/** The first figure of `limits` that `load` (with pending placements) has reached, as "sessions 12 >= 12". */
function reachedFigure(load: Load, limits: Limits, pending: number, cost: SessionCost): string | undefined {
  for (const m of MEASURES) {
    const lim = figure(m, limits);
    const v = withPending(m, load, pending, cost);
    if (lim > 0 && v >= lim) return `${m} ${+v.toFixed(3)} >= ${lim}`;
  }
  return undefined;
}

/** Why a node stands where it does (standing()), with the figure that decided it: for explained picks. */
export function standingReason(r: Figures, pending: number, cost: SessionCost = DEFAULT_COST): string {
  if (r.state !== NodeState.NODE_STATE_SERVING) return "draining (the node's own state)";
  if (r.mark !== undefined)
    return `${r.mark.kind} by ${r.mark.by || "an operator"}${r.mark.reason ? `: ${r.mark.reason}` : ""}`;
  const hard = reachedFigure(r.load, r.hard, pending, cost);
  if (hard !== undefined) return `hard limit: ${hard}`;
  const soft = reachedFigure(r.load, r.soft, pending, cost);
  return soft !== undefined ? `soft limit: ${soft}` : "under its limits";
}
