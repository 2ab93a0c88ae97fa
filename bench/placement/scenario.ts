/**
 * The cluster and the traffic of the placement simulation, made once from a seed so every
 * selector is measured against exactly the same nodes, sessions, deaths and drains.
 */
import { between, exponential, seeded } from "./random.js";

/** One media node: how many participants it can carry, and where it is. */
export interface SimNode {
  readonly nid: string;
  readonly region: string;
  /** Participants the node carries at 100 % CPU. */
  readonly capacity: number;
  /** When, within each heartbeat interval, it reports (ms). */
  readonly phase: number;
}

/** One session (a room): when it starts, how big it is, how long it lasts, where its caller is. */
export interface SimSession {
  readonly sid: string;
  readonly at: number;
  readonly participants: number;
  readonly durationMs: number;
  readonly region: string;
}

/** A node dying (and coming back empty later), or draining for a while. */
export interface SimIncident {
  readonly at: number;
  readonly kind: "death" | "drain";
  readonly nid: string;
  /** When the node is back (restarted empty, or serving again). */
  readonly untilMs: number;
}

export interface Scenario {
  readonly nodes: readonly SimNode[];
  /** Sorted by start. */
  readonly sessions: readonly SimSession[];
  readonly incidents: readonly SimIncident[];
  /** Starts of the bursts (each `burstSize` sessions within `burstMs`). */
  readonly bursts: readonly number[];
  readonly burstMs: number;
  readonly durationMs: number;
  readonly heartbeatMs: number;
  /** CPU (0..1) over which a node should get new sessions only when no node is under it. */
  readonly softCpu: number;
  /** CPU (0..1) at which a node must get no new session. */
  readonly hardCpu: number;
}

export interface ScenarioOptions {
  seed?: number;
  nodes?: number;
  regions?: number;
  durationMs?: number;
  /** New sessions per second outside the bursts. */
  rate?: number;
  burstSize?: number;
  burstMs?: number;
  burstEveryMs?: number;
}

/** Participants of a room: mostly calls of two, some meetings, a few large rooms. */
function roomSize(random: () => number): number {
  const x = random();
  if (x < 0.6) return 2;
  if (x < 0.85) return between(random, 3, 8);
  if (x < 0.97) return between(random, 10, 30);
  return between(random, 40, 60);
}

/** Node sizes: small (100 participants), medium (200), large (400). */
function nodeCapacity(random: () => number): number {
  const x = random();
  return x < 0.4 ? 100 : x < 0.8 ? 200 : 400;
}

export function makeScenario(o: ScenarioOptions = {}): Scenario {
  const random = seeded(o.seed ?? 42);
  const nNodes = o.nodes ?? 1000;
  const nRegions = o.regions ?? 4;
  const durationMs = o.durationMs ?? 300_000;
  const rate = o.rate ?? 100;
  const burstSize = o.burstSize ?? 1000;
  const burstMs = o.burstMs ?? 100;
  const burstEveryMs = o.burstEveryMs ?? 30_000;
  const heartbeatMs = 2000;
  const region = (): string => `r${Math.floor(random() * nRegions)}`;

  const nodes: SimNode[] = [];
  for (let i = 0; i < nNodes; i++)
    nodes.push({
      nid: `sfu-${i}`,
      region: `r${i % nRegions}`,
      capacity: nodeCapacity(random),
      phase: Math.floor(random() * heartbeatMs),
    });

  const sessions: SimSession[] = [];
  let n = 0;
  const session = (at: number): SimSession => ({
    sid: `room-${n++}`,
    at,
    participants: roomSize(random),
    durationMs: Math.max(10_000, exponential(random, 120_000)),
    region: region(),
  });
  for (let t = exponential(random, 1000 / rate); t < durationMs; t += exponential(random, 1000 / rate))
    sessions.push(session(Math.floor(t)));
  const bursts: number[] = [];
  for (let b = burstEveryMs; b < durationMs - burstEveryMs / 2; b += burstEveryMs) {
    bursts.push(b);
    for (let i = 0; i < burstSize; i++) sessions.push(session(b + Math.floor(random() * burstMs)));
  }
  sessions.sort((a, b) => a.at - b.at);

  const incidents: SimIncident[] = [];
  const pickNode = (): string => (nodes[Math.floor(random() * nNodes)] as SimNode).nid;
  for (let t = 20_000; t < durationMs; t += 20_000)
    incidents.push({ at: t + 5_000, kind: "death", nid: pickNode(), untilMs: t + 15_000 });
  for (let t = 40_000; t < durationMs; t += 40_000)
    incidents.push({ at: t + 7_000, kind: "drain", nid: pickNode(), untilMs: t + 37_000 });
  incidents.sort((a, b) => a.at - b.at);

  return { nodes, sessions, incidents, bursts, burstMs, durationMs, heartbeatMs, softCpu: 0.7, hardCpu: 0.9 };
}
