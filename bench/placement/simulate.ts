/**
 * Runs one selector through a scenario in simulated time (10 ms ticks): sessions arrive and
 * end, nodes report every 2 s (so what a selector knows lags what nodes carry), die (their
 * sessions are placed again at once), come back empty, drain and return. Measures, from the
 * truth rather than from the reports, how evenly each burst landed.
 */
import type { Scenario, SimNode, SimSession } from "./scenario.js";
import type { Report, Selector } from "./selectors.js";

const TICK = 10;

/** What one run measured. */
export interface SimResult {
  readonly selector: string;
  /** Max over mean node load (CPU relative to capacity) at the end of each burst. */
  readonly imbalance: readonly number[];
  /** The coefficient of variation (standard deviation over mean) of node loads at the end of each burst. */
  readonly spread: readonly number[];
  /** The 99th percentile of node loads at the end of each burst. */
  readonly p99: readonly number[];
  /** The highest node load at the end of any burst (soft limit 0.7, hard 0.9). */
  readonly worstLoad: number;
  /** Nodes over the soft limit at the end of a burst, the most of any burst. */
  readonly overSoft: number;
  /** Picks of a node whose last report was at or over its hard limit. */
  readonly overHardReported: number;
  /** Picks of a node that carried at least its hard limit then (the selector could not know). */
  readonly overHardTrue: number;
  /** The highest load any node reached at any time. */
  readonly peakLoad: number;
  readonly picks: number;
  readonly refused: number;
  readonly deaths: number;
  readonly moved: number;
  /** Mean time of one pick, µs (wall clock, this process). */
  readonly pickUs: number;
}

interface NodeState {
  readonly node: SimNode;
  participants: number;
  readonly sessions: Set<SimSession>;
  alive: boolean;
  draining: boolean;
  /** CPU in the node's last report. */
  reported: number;
}

export function simulate(s: Scenario, selector: Selector): SimResult {
  const nodes = new Map<string, NodeState>();
  const byPhase: NodeState[][] = Array.from({ length: s.heartbeatMs / TICK }, () => []);
  const load = (n: NodeState): number => n.participants / n.node.capacity;
  const report = (n: NodeState): Report => {
    n.reported = load(n);
    return { cpu: n.reported, sessions: n.sessions.size, participants: n.participants };
  };
  for (const node of s.nodes) {
    const n: NodeState = { node, participants: 0, sessions: new Set(), alive: true, draining: false, reported: 0 };
    nodes.set(node.nid, n);
    (byPhase[Math.floor(node.phase / TICK)] as NodeState[]).push(n);
    selector.up(node, report(n));
  }
  const hostOf = new Map<SimSession, NodeState>();
  const ends = new Map<number, SimSession[]>();
  let picks = 0;
  let refused = 0;
  let overHardReported = 0;
  let overHardTrue = 0;
  let pickTime = 0;
  let peakLoad = 0;

  const place = (session: SimSession, endTick: number): void => {
    const t0 = performance.now();
    const nid = selector.pick(session.region);
    pickTime += performance.now() - t0;
    picks++;
    const n = nid === undefined ? undefined : nodes.get(nid);
    if (n === undefined || !n.alive) {
      refused++;
      return;
    }
    if (n.reported >= s.hardCpu) overHardReported++;
    if (load(n) >= s.hardCpu) overHardTrue++;
    n.participants += session.participants;
    n.sessions.add(session);
    hostOf.set(session, n);
    peakLoad = Math.max(peakLoad, load(n));
    let list = ends.get(endTick);
    if (list === undefined) ends.set(endTick, (list = []));
    list.push(session);
  };

  const imbalance: number[] = [];
  const spread: number[] = [];
  const p99: number[] = [];
  let worstLoad = 0;
  let overSoft = 0;
  const measure = (): void => {
    const loads: number[] = [];
    for (const n of nodes.values()) if (n.alive) loads.push(load(n));
    loads.sort((a, b) => a - b);
    const live = loads.length;
    const mean = loads.reduce((a, b) => a + b, 0) / live;
    const max = loads[live - 1] as number;
    const over = loads.filter((l) => l > s.softCpu).length;
    const sd = Math.sqrt(loads.reduce((a, l) => a + (l - mean) ** 2, 0) / live);
    imbalance.push(mean > 0 ? max / mean : 1);
    spread.push(mean > 0 ? sd / mean : 0);
    p99.push(loads[Math.floor(live * 0.99)] as number);
    worstLoad = Math.max(worstLoad, max);
    overSoft = Math.max(overSoft, over);
  };

  let deaths = 0;
  let moved = 0;
  let nextSession = 0;
  let nextIncident = 0;
  const pendingEnds: Array<{ at: number; fn: () => void }> = [];
  const measureAt = new Set(s.bursts.map((b) => Math.ceil((b + s.burstMs) / TICK)));
  const ticks = Math.ceil(s.durationMs / TICK);
  for (let tick = 0; tick < ticks; tick++) {
    const now = tick * TICK;
    for (const session of ends.get(tick) ?? []) {
      const n = hostOf.get(session);
      if (n === undefined) continue;
      hostOf.delete(session);
      n.sessions.delete(session);
      n.participants -= session.participants;
    }
    ends.delete(tick);
    for (let i = 0; i < pendingEnds.length;) {
      const p = pendingEnds[i] as { at: number; fn: () => void };
      if (p.at <= now) {
        p.fn();
        pendingEnds.splice(i, 1);
      } else i++;
    }
    while (nextIncident < s.incidents.length && (s.incidents[nextIncident] as { at: number }).at <= now) {
      const inc = s.incidents[nextIncident++] as Scenario["incidents"][number];
      const n = nodes.get(inc.nid) as NodeState;
      if (!n.alive) continue;
      if (inc.kind === "death") {
        deaths++;
        n.alive = false;
        selector.down(n.node);
        const orphans = [...n.sessions];
        n.sessions.clear();
        n.participants = 0;
        for (const session of orphans) {
          hostOf.delete(session);
          moved++;
          const left = Math.max(1, Math.ceil((session.at + session.durationMs - now) / TICK));
          place(session, tick + left);
        }
        pendingEnds.push({
          at: inc.untilMs,
          fn: () => ((n.alive = true), (n.draining = false), selector.up(n.node, report(n))),
        });
      } else if (!n.draining) {
        n.draining = true;
        selector.drain(n.node, true, report(n));
        pendingEnds.push({
          at: inc.untilMs,
          fn: () => n.alive && ((n.draining = false), selector.drain(n.node, false, report(n))),
        });
      }
    }
    for (const n of byPhase[tick % byPhase.length] as NodeState[]) if (n.alive) selector.report(n.node, report(n));
    while (nextSession < s.sessions.length && (s.sessions[nextSession] as SimSession).at <= now) {
      const session = s.sessions[nextSession++] as SimSession;
      place(session, tick + Math.max(1, Math.ceil(session.durationMs / TICK)));
    }
    if (measureAt.has(tick)) measure();
  }
  return {
    selector: selector.name,
    imbalance,
    spread,
    p99,
    worstLoad,
    overSoft,
    overHardReported,
    overHardTrue,
    peakLoad,
    picks,
    refused,
    deaths,
    moved,
    pickUs: (pickTime * 1000) / Math.max(1, picks),
  };
}
