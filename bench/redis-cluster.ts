/**
 * Redis writes on a 3-master Redis Cluster against a single Redis: several islb instances'
 * Redis stores (each a child process, bench/redis-cluster-worker.ts, with its own nodes of
 * several services) send load-only heartbeats, then place new sessions, `inflight` calls in
 * flight each. Layouts: a single Redis (every key in one slot), the Cluster with every key in
 * one slot (`shards = 1`: one master takes every write), and the Cluster's default layout
 * (6 shards: each service's keys on one master, two shards per master). CPU is from /proc:
 * the workers' own and each redis-server's. "busiest master µs/call" bounds what the Redis side
 * can take: 1e6 / it calls/s ("Redis ceiling"), whatever the clients' machine can send.
 *   node dist/bench/redis-cluster.js [--ms 2000] [--workers 2] [--inflight 64] [--services 6] [--nodes 100] [--rounds 1] [--layouts 1,2,3]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startRedisCluster, startRedisServer } from "../test/helpers/redis-server.js";
import { cpuMicros } from "./cpu.js";
import { median, medianBy } from "./median.js";
import { option } from "./options.js";

const MS = Number(option("ms", "2000"));
const WORKERS = Number(option("workers", "2"));
const INFLIGHT = Number(option("inflight", "64"));
const SERVICES = Number(option("services", "6"));
const NODES = Number(option("nodes", "100"));
const ROUNDS = Math.max(1, Number(option("rounds", "1")));
const WORKER = fileURLToPath(new URL("./redis-cluster-worker.js", import.meta.url));

interface Row {
  perSec: number;
  workerUs: number;
  redisUs: number;
  busiestUs: number;
  perMasterUs: number[];
  failed: number;
}

let prefixN = 0;
async function measure(cfg: object, kind: string, pids: number[]): Promise<Row> {
  const prefix = `bench${prefixN++}-${process.pid}:`;
  const children = Array.from({ length: WORKERS }, (_, w) =>
    fork(
      WORKER,
      [
        JSON.stringify({ ...cfg, prefix }),
        kind,
        String(MS),
        String(INFLIGHT),
        String(w),
        String(SERVICES),
        String(NODES),
      ],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        // BENCH_PROF=<dir>: each worker writes a CPU profile there.
        execArgv: process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROF] : [],
      },
    ),
  );
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.once("message", () => resolve());
          c.once("exit", (code) => reject(new Error(`a worker exited (${code}) before it was ready`)));
        }),
    ),
  );
  const results = children.map(
    (c) =>
      new Promise<{ calls: number; failed: number; seconds: number; cpuUs: number }>((resolve) =>
        c.once("message", (m) => resolve(m as { calls: number; failed: number; seconds: number; cpuUs: number })),
      ),
  );
  const before = pids.map(cpuMicros);
  for (const c of children) c.send("go");
  const rs = await Promise.all(results);
  const after = pids.map(cpuMicros);
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
  const calls = rs.reduce((a, r) => a + r.calls, 0);
  const perRedis = after.map((a, i) => (a - (before[i] as number)) / calls);
  return {
    perSec: rs.reduce((a, r) => a + r.calls / r.seconds, 0),
    workerUs: rs.reduce((a, r) => a + r.cpuUs, 0) / calls,
    redisUs: perRedis.reduce((a, b) => a + b, 0),
    busiestUs: Math.max(...perRedis),
    perMasterUs: perRedis,
    failed: rs.reduce((a, r) => a + r.failed, 0),
  };
}

const single = await startRedisServer();
const cluster = await startRedisCluster();
const ONLY = option("layouts", "");
const layouts: Array<[string, object, number[]]> = [
  ["single Redis", { addrs: [], db: 0, url: single.url }, [single.pid]],
  ["Cluster, 3 masters, one slot (shards = 1)", { addrs: cluster.addrs, db: 0, shards: 1 }, cluster.pids],
  ["Cluster, 3 masters, 6 shards (default)", { addrs: cluster.addrs, db: 0 }, cluster.pids],
];
if (ONLY !== "") {
  const keep = ONLY.split(",").map(Number);
  layouts.splice(0, layouts.length, ...layouts.filter((_, i) => keep.includes(i + 1)));
}
const kinds: Array<[string, string]> = [
  ["heartbeat", "heartbeats (load only)"],
  ["new", "new-session placements"],
];
const results = new Map<string, Row[]>();
try {
  for (let round = 1; round <= ROUNDS; round++)
    for (const [name, cfg, pids] of layouts)
      for (const [kind] of kinds) {
        const r = await measure(cfg, kind, pids);
        results.set(`${name}/${kind}`, [...(results.get(`${name}/${kind}`) ?? []), r]);
        process.stderr.write(`round ${round}: ${name}, ${kind}: ${Math.round(r.perSec)}/s\n`);
      }
} finally {
  await Promise.all([single.stop(), cluster.stop()]);
}

const f = (n: number, d = 0): string => n.toFixed(d);
console.log(
  `\nRedis writes: ${WORKERS} islb stores (processes), ${INFLIGHT} in flight each, ${SERVICES} services of ${NODES} nodes each per store, ${MS} ms a scenario, median of ${ROUNDS}`,
);
console.log(
  "| layout | call | calls/s | store CPU µs/call | redis-server µs/call (all) | each master µs/call | busiest master µs/call | Redis ceiling calls/s |",
);
console.log("|---|---|---:|---:|---:|---|---:|---:|");
for (const [name] of layouts)
  for (const [kind, label] of kinds) {
    const rs = results.get(`${name}/${kind}`) as Row[];
    const m = (g: (r: Row) => number): number => median(rs.map(g));
    const failed = rs.reduce((a, r) => a + r.failed, 0);
    const perMaster = medianBy(rs, (r) => r.busiestUs)
      .perMasterUs.map((x) => f(x, 1))
      .join(" / ");
    const cells = [
      name,
      `${label}${failed > 0 ? ` (${failed} refused)` : ""}`,
      f(m((r) => r.perSec)),
      f(
        m((r) => r.workerUs),
        1,
      ),
      f(
        m((r) => r.redisUs),
        1,
      ),
      perMaster,
      f(
        m((r) => r.busiestUs),
        1,
      ),
      f(1e6 / m((r) => r.busiestUs)),
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
