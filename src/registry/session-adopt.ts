/**
 * The rule by which a registry re-learns the placements nodes report (their heartbeats'
 * sessions), shared by the three stores (the Redis store's script, redis-session-adopt.ts,
 * follows it step by step). The placement already recorded wins: a reported session placed
 * nowhere is placed on the reporting node (create-if-absent); one placed on the reporter is
 * renewed; one placed on another node that keeps it stays there, and the reporter is told (a
 * conflict); one placed on a node that cannot keep it (gone, draining) moves to the reporter.
 * A reporter that cannot keep sessions itself (not alive, not SERVING, draining) re-learns none.
 */
import { keepsSessions, type AdoptOutcome, type NodeRecord } from "./model.js";

/** What a store does with one reported session. */
export type AdoptStep = "create" | "renew" | "replace" | "conflict" | "refuse";

/**
 * @param reporterKeeps whether the reporting node can keep sessions of the service
 * @param cur the node the session is placed on now (undefined: nowhere, or its idle time is over)
 * @param curKeeps whether that node can keep it
 */
export function adoptStep(
  reporterKeeps: boolean,
  reporter: string,
  cur: string | undefined,
  curKeeps: boolean,
): AdoptStep {
  if (!reporterKeeps) return "refuse";
  if (cur === undefined) return "create";
  if (cur === reporter) return "renew";
  return curKeeps ? "conflict" : "replace";
}

/** The outcome a step reports. */
export const outcomeOf: Record<AdoptStep, AdoptOutcome> = {
  create: "adopted",
  renew: "kept",
  replace: "moved",
  conflict: "conflict",
  refuse: "refused",
};

/** True when the node of `r` can keep a session of `service` at `now` (alive, SERVING, not draining, of the service). */
export function canKeep(r: NodeRecord | undefined, service: string, now: number): boolean {
  return r !== undefined && r.expiresAt > now && keepsSessions(r) && r.node.service === service;
}
