/** How loaded a node is, by a chosen measure, and where it stands against its limits. */
import { NodeState, type Limits, type Load, type NodeRecord } from "../registry/types.js";

/** The figure nodes are compared by. */
export type Measure = "cpu" | "sessions" | "tracks" | "bandwidth";

export const MEASURES: readonly Measure[] = ["cpu", "sessions", "tracks", "bandwidth"];

/** What one session placed since the node's last heartbeat adds to each figure (an estimate until it reports). */
const PER_SESSION: Record<Measure, number> = { cpu: 0.01, sessions: 1, tracks: 2, bandwidth: 1_000_000 };

function figure(m: Measure, x: Load | Limits): number {
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

/** A figure with the sessions placed since the last heartbeat counted in. */
function withPending(m: Measure, load: Load, pending: number): number {
  return figure(m, load) + pending * PER_SESSION[m];
}

/**
 * The node's score by measure `m`: its figure (with pending placements) relative to its
 * capacity for it (the soft limit, else the hard limit, else 1), so nodes of different sizes
 * compare fairly. Lower is better.
 */
export function score(m: Measure, r: NodeRecord, pending: number): number {
  const cap = figure(m, r.soft) || figure(m, r.hard) || 1;
  return withPending(m, r.load, pending) / cap;
}

/** True when any figure with a limit set (> 0) has reached it. */
export function reached(load: Load, limits: Limits, pending: number): boolean {
  for (const m of MEASURES) {
    const lim = figure(m, limits);
    if (lim > 0 && withPending(m, load, pending) >= lim) return true;
  }
  return false;
}

/** Where a node stands for new sessions. */
export type Standing = "under" | "over" | "closed";

/** under: takes sessions; over: past a soft limit (used when no node is under); closed: draining or past a hard limit. */
export function standing(r: NodeRecord, pending: number): Standing {
  if (r.state !== NodeState.NODE_STATE_SERVING) return "closed";
  if (reached(r.load, r.hard, pending)) return "closed";
  return reached(r.load, r.soft, pending) ? "over" : "under";
}
