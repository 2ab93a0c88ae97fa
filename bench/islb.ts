/**
 * The ISLB benchmark: FindNode (new session, known session) at 1k, 10k and 100k registered
 * nodes — server-side cost per call (the service alone, in process) and end-to-end calls/s
 * over NATS (islb in its own process) — heartbeats/s one instance absorbs (memory and Redis
 * stores), and memory per registered node.
 *   node dist/bench/islb.js [--ms 2000]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { Balancer } from "../src/balancer/balancer.js";
import { createIslbService } from "../src/islb/service.js";
import { MemoryStore } from "../src/registry/memory.js";
import { fleetRecord } from "./fixtures.js";
import { median } from "./median.js";
import type { NodeRecord } from "../src/registry/types.js";
import { createClient } from "../src/index.js";
import { ISLBDefinition } from "../generated/islb/islb.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

const args = process.argv.slice(2);
const MS = (() => {
  const i = args.indexOf("--ms");
  return i >= 0 ? Number(args[i + 1]) : 2000;
})();
const SIZES = [1_000, 10_000, 100_000];
const PEER = fileURLToPath(new URL("./islb-peer.js", import.meta.url));

const record = (i: number, now: number): NodeRecord => fleetRecord(i, now);

/** Server-side cost of FindNode, the service alone: µs per call, new and known sessions. */
async function serverSide(n: number): Promise<{ newUs: number; knownUs: number }> {
  const store = new MemoryStore();
  const now = Date.now();
  for (let i = 0; i < n; i++) await store.register(record(i, now), "t");
  const svc = createIslbService(store, new Balancer(store.view));
  const req = (sid: string) => ({ service: "rtc", sid, nid: "", region: "r1", dc: "", limit: 0, explain: false });
  for (let i = 0; i < 5000; i++) await svc.findNode(req(`warm-${i}`), {} as never);
  // Five batches of each kind, alternating; the median batch, so one collection of a large
  // heap or a slow spell of the machine does not decide the figure.
  const batch = 10_000;
  const newUs: number[] = [];
  const knownUs: number[] = [];
  let next = 0;
  for (let b = 0; b < 5; b++) {
    let t0 = performance.now();
    for (let i = 0; i < batch; i++) await svc.findNode(req(`new-${next++}`), {} as never);
    newUs.push(((performance.now() - t0) * 1000) / batch);
    t0 = performance.now();
    for (let i = 0; i < batch; i++) await svc.findNode(req(`new-${i % 1000}`), {} as never);
    knownUs.push(((performance.now() - t0) * 1000) / batch);
  }
  return { newUs: median(newUs), knownUs: median(knownUs) };
}

/** Keeps what memoryPerNode measures reachable through its second collection. */
const kept: unknown[] = [];

/** Bytes of heap per registered node in the memory store (with its balancer entries). */
function memoryPerNode(n: number): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return NaN;
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = new MemoryStore({ history: 1 });
  const balancer = new Balancer(store.view);
  const now = Date.now();
  for (let i = 0; i < n; i++) void store.register(record(i, now), `tok-${i}`);
  kept.push(store, balancer);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (store.view.size !== n) throw new Error(`registered ${store.view.size} of ${n}`);
  return (after - before) / n;
}

async function peer(natsUrl: string, n: number, redisUrl?: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [PEER, natsUrl, String(n), ...(redisUrl ? [redisUrl] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  const it = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const line = await it.next();
  if (line.value !== "ready") throw new Error("islb peer did not start");
  return child;
}

async function load(call: (i: number) => Promise<unknown>, inflight = 64): Promise<number> {
  let n = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) await call(n++);
  };
  const ws = Array.from({ length: inflight }, worker);
  await new Promise((r) => setTimeout(r, 300));
  const n0 = n;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MS));
  const calls = n - n0;
  const secs = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(ws);
  return calls / secs;
}

const ns = await startNatsServer();
const rs = await startRedisServer();
const rows: string[] = [];
const serverCost: Record<number, { newUs: number; knownUs: number }> = {};
try {
  const nc = await connect({ servers: ns.url, noAsyncTraces: true });
  const client = createClient(ISLBDefinition, nc);
  for (const n of SIZES) {
    serverCost[n] = await serverSide(n);
    const child = await peer(ns.url, n);
    try {
      let k = 0;
      const newPerSec = await load(() => client.findNode({ service: "rtc", sid: `e2e-${n}-${k++}`, region: "r1" }));
      const knownPerSec = await load((i) => client.findNode({ service: "rtc", sid: `e2e-${n}-${i % 1000}`, region: "r1" }));
      const s = serverCost[n] as { newUs: number; knownUs: number };
      rows.push(`| ${n.toLocaleString("en")} | ${s.newUs.toFixed(2)} | ${s.knownUs.toFixed(2)} | ${Math.round(newPerSec)} | ${Math.round(knownPerSec)} |`);
      process.stderr.write(`  ${n} nodes done\n`);
    } finally {
      child.kill("SIGKILL");
    }
  }
  const hb: string[] = [];
  for (const redisUrl of [undefined, rs.url]) {
    const child = await peer(ns.url, 10_000, redisUrl);
    try {
      const perSec = await load((i) => client.heartbeat({ nid: `sfu-${i % 10_000}`, token: `tok-${i % 10_000}`, load: { sessions: i % 50 }, leaseMs: 600_000 }));
      hb.push(`| ${redisUrl ? "redis" : "memory"} | ${Math.round(perSec)} |`);
    } finally {
      child.kill("SIGKILL");
    }
  }
  await nc.close();
  const mem = memoryPerNode(100_000);
  const s1 = serverCost[1_000] as { newUs: number; knownUs: number };
  const s100 = serverCost[100_000] as { newUs: number; knownUs: number };
  console.log(`\nFindNode, one service, nodes in 4 regions, caller prefers one; server-side cost (service alone) and end-to-end over NATS (64 in flight, ${MS} ms):`);
  console.log("| nodes | new session µs | known session µs | new session calls/s | known session calls/s |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
  console.log(`\nratio 100k/1k, server-side: new session ${(s100.newUs / s1.newUs).toFixed(2)}, known session ${(s100.knownUs / s1.knownUs).toFixed(2)} (target ≤ 1.5)`);
  console.log("\nheartbeats one instance absorbs (10,000 nodes, 64 in flight):");
  console.log("| store | heartbeats/s |");
  console.log("|---|---:|");
  for (const r of hb) console.log(r);
  console.log(`\nmemory per registered node (memory store, 100,000 nodes): ${Number.isNaN(mem) ? "run with --expose-gc" : `${Math.round(mem)} bytes`} (target ≤ 1024)`);
} finally {
  await rs.stop();
  await ns.stop();
}
