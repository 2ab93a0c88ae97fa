/**
 * Placement quality, simulated in process (no NATS): 1,000 nodes of three sizes in 4 regions,
 * heartbeats every 2 s that lag reality, bursts of 1,000 new sessions within 100 ms every 30 s
 * on top of 100 sessions/s, rooms of 2 to 60 participants lasting 10 s to many minutes, a node
 * dying every 20 s (its sessions placed again at once; back empty 10 s later) and one draining
 * every 40 s. islb's balancer against LiveKit's selector as its code describes it, each on the
 * same scenarios (one per seed); figures over every burst of every seed.
 *   node dist/bench/placement.js [--seeds 5] [--seconds 300]
 */
import { median } from "./median.js";
import { seeded } from "./placement/random.js";
import { makeScenario } from "./placement/scenario.js";
import { IslbSelector, LiveKitSelector, type Selector } from "./placement/selectors.js";
import { simulate, type SimResult } from "./placement/simulate.js";
import { numberOption } from "./options.js";

const seeds = numberOption("seeds", 5);
const seconds = numberOption("seconds", 300);

const NAMES = [
  "islb (least loaded, pending counted)",
  "islb --two-choices",
  "LiveKit cpuload, lowest",
  "LiveKit cpuload, twochoice",
];
function selectorsFor(seed: number, soft: number, hard: number): Selector[] {
  return [
    new IslbSelector(NAMES[0] as string, soft, hard, false, seeded(seed + 1)),
    new IslbSelector(NAMES[1] as string, soft, hard, true, seeded(seed + 1)),
    new LiveKitSelector(NAMES[2] as string, soft, false, seeded(seed + 1)),
    new LiveKitSelector(NAMES[3] as string, soft, true, seeded(seed + 1)),
  ];
}

const runs: SimResult[][] = NAMES.map(() => []);
let sessions = 0;
let bursts = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const scenario = makeScenario({ seed, durationMs: seconds * 1000 });
  sessions += scenario.sessions.length;
  bursts += scenario.bursts.length;
  selectorsFor(seed, scenario.softCpu, scenario.hardCpu).forEach((sel, i) =>
    (runs[i] as SimResult[]).push(simulate(scenario, sel)),
  );
}

if (bursts === 0) {
  // The figures are taken at the end of each burst: without one there is nothing to report.
  console.error(
    `placement: --seconds ${seconds} leaves no room for a burst (one every 30 s, the last at least 15 s before the end): give 46 or more`,
  );
  process.exit(2);
}

interface Row {
  name: string;
  imbalance: number;
  imbalanceWorst: number;
  spread: number;
  p99: number;
  worst: number;
  overSoft: number;
  overHardReported: number;
  overHardTrue: number;
  movedPerDeath: number;
  refused: number;
  pickUs: number;
}
const all = (rs: SimResult[], k: "imbalance" | "spread" | "p99"): number[] => rs.flatMap((r) => [...r[k]]);
const sum = (rs: SimResult[], f: (r: SimResult) => number): number => rs.reduce((a, r) => a + f(r), 0);
const rows: Row[] = runs.map((rs, i) => ({
  name: NAMES[i] as string,
  imbalance: median(all(rs, "imbalance")),
  imbalanceWorst: Math.max(...all(rs, "imbalance")),
  spread: median(all(rs, "spread")),
  p99: median(all(rs, "p99")),
  worst: Math.max(...rs.map((r) => r.worstLoad)),
  overSoft: median(rs.map((r) => r.overSoft)),
  overHardReported: sum(rs, (r) => r.overHardReported),
  overHardTrue: sum(rs, (r) => r.overHardTrue),
  movedPerDeath:
    sum(rs, (r) => r.moved) /
    Math.max(
      1,
      sum(rs, (r) => r.deaths),
    ),
  refused: sum(rs, (r) => r.refused),
  pickUs: median(rs.map((r) => r.pickUs)),
}));

const f = (x: number, d = 2): string => x.toFixed(d);
console.log(
  `placement simulation: ${seeds} seeds × (1,000 nodes, ${seconds} s), ${sessions} sessions, ${bursts} bursts of 1,000 in 100 ms; soft limit 0.70 CPU, hard 0.90`,
);
console.log(
  "| selector | max/mean node load after a burst (median, worst) | spread sd/mean | p99 node load | worst node | nodes over soft (median of runs' most) | picks over hard limit: by report / in truth | sessions moved per death | refused | µs per pick |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${f(r.imbalance)}, ${f(r.imbalanceWorst)} | ${f(r.spread)} | ${f(r.p99)} | ${f(r.worst)} | ${r.overSoft} | ${r.overHardReported} / ${r.overHardTrue} | ${f(r.movedPerDeath, 1)} | ${r.refused} | ${f(r.pickUs, 1)} |`,
  );
}
const [ours, ours2, ...lk] = rows as [Row, Row, ...Row[]];
const lkBest = (k: "imbalance" | "spread" | "p99" | "overHardTrue"): number => Math.min(...lk.map((r) => r[k]));
const checks = [
  { what: "islb's load spread after bursts below LiveKit's best", ok: ours.spread < lkBest("spread") },
  { what: "islb's p99 node load after bursts below LiveKit's best", ok: ours.p99 < lkBest("p99") },
  { what: "islb's max/mean after bursts at most LiveKit's best", ok: ours.imbalance <= lkBest("imbalance") },
  {
    what: "islb never picks a node over a hard limit by what it knows",
    ok: ours.overHardReported === 0 && ours2.overHardReported === 0,
  },
  {
    what: "islb picks nodes over a hard limit in truth (reports lag) no more often than LiveKit's best",
    ok: ours.overHardTrue <= lkBest("overHardTrue"),
  },
];
for (const c of checks) console.log(`${c.ok ? "PASS" : "FAIL"} ${c.what}`);
if (checks.some((c) => !c.ok)) process.exitCode = 1;
