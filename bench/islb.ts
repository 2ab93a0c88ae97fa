/**
 * The ISLB benchmark: FindNode (new session, known session) at 1k, 10k and 100k registered
 * nodes — server-side cost per call (the service alone, in process) and end-to-end calls/s
 * over NATS (islb in its own process) — heartbeats/s one instance absorbs (memory and Redis
 * stores), and memory per registered node.
 *   node --expose-gc dist/bench/islb.js [--ms 2000] [--server-side: only the service-alone cost and the 100k/1k ratio]
 *     [--memory-only: only memory per registered node and per kept session]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { Balancer } from "../src/balancer/balancer.js";
import { createIslbService } from "../src/islb/service.js";
import { MemoryStore } from "../src/registry/memory.js";
import { RedisStore } from "../src/registry/redis.js";
import { Redis } from "ioredis";
import { fleetRecord, sessionRequest } from "./fixtures.js";
import { median } from "./median.js";
import type { NodeRecord } from "../src/registry/types.js";
import { createClient } from "../src/index.js";
import { ISLBDefinition } from "../generated/islb/islb.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { flag, numberOption } from "./options.js";

const MS = numberOption("ms", 2000);
const SIZES = [1_000, 10_000, 100_000];
const PEER = fileURLToPath(new URL("./islb-peer.js", import.meta.url));

const record = (i: number, now: number): NodeRecord => fleetRecord(i, now);

type Service = ReturnType<typeof createIslbService>;
const req = (sid: string) => sessionRequest(sid, "r1");
/** An owner token as the service and the agent make them (24 characters of base64url, a flat string as decoded off the wire). */
const ownerToken = (): string => randomBytes(18).toString("base64url");
const gcNow = (): void => (globalThis as { gc?: () => void }).gc?.();

/** A memory store with `n` nodes and the service over it, warmed up. */
async function serviceWith(n: number): Promise<Service> {
  const store = new MemoryStore();
  const now = Date.now();
  for (let i = 0; i < n; i++) await store.register(record(i, now), "t");
  const svc = createIslbService(store, new Balancer(store.view));
  for (let i = 0; i < 5000; i++) await svc.findNode(req(`warm-${i}`), {} as never);
  return svc;
}

interface Cost {
  newUs: number[];
  knownUs: number[];
}

/**
 * Server-side cost of FindNode, the service alone: µs per call, new and known sessions, for
 * every size. All sizes are measured in the same rounds, one batch of each kind and size in
 * turn, each batch after a forced collection (with --expose-gc), so the collection of an
 * earlier batch's garbage does not fall on the next; timed in this process's CPU time, so
 * what else runs on a shared machine does not count (a slow spell still falls on every size alike).
 */
async function serverSide(sizes: number[], rounds = 9): Promise<Map<number, Cost>> {
  const svcs = new Map<number, Service>();
  for (const n of sizes) svcs.set(n, await serviceWith(n));
  const out = new Map<number, Cost>(sizes.map((n) => [n, { newUs: [], knownUs: [] }]));
  const batch = 10_000;
  let next = 0;
  for (let r = 0; r < rounds; r++) {
    for (const n of sizes) {
      const svc = svcs.get(n) as Service;
      const c = out.get(n) as Cost;
      gcNow();
      let t0 = cpuNow();
      for (let i = 0; i < batch; i++) await svc.findNode(req(`new-${next++}`), {} as never);
      c.newUs.push((cpuNow() - t0) / batch);
      gcNow();
      t0 = cpuNow();
      for (let i = 0; i < batch; i++) await svc.findNode(req(`new-${i % 1000}`), {} as never);
      c.knownUs.push((cpuNow() - t0) / batch);
    }
  }
  return out;
}

/** This process's CPU time (user and system) in µs: what a batch costs, whatever else runs on the machine. */
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The median over rounds of the ratio of two sizes' batches of the same round. */
const roundRatio = (a: number[], b: number[]): number => median(a.map((x, i) => x / (b[i] as number)));

/**
 * Bytes per kept session in the memory store (sessions placed through the service): of the JS
 * heap and of ArrayBuffers besides, in all (ArrayBuffers count as for nodes, so the figure is whole).
 */
async function memoryPerSession(n: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return NaN;
  const store = new MemoryStore({ history: 1 });
  const now = Date.now();
  for (let i = 0; i < 100; i++) await store.register(record(i, now), ownerToken());
  const svc = createIslbService(store, new Balancer(store.view));
  kept.push(store, svc);
  await settled(gc);
  const before = process.memoryUsage();
  for (let i = 0; i < n; i++) await svc.findNode(req(`room-${i.toString(36).padStart(8, "0")}`), {} as never);
  await settled(gc);
  const after = process.memoryUsage();
  return (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / n;
}

/** Bytes of redis-server memory (INFO used_memory) per session placed through the Redis store, and per node registered. */
async function redisBytes(
  url: string,
  sessions: number,
  nodes: number,
): Promise<{ perSession: number; perNode: number }> {
  const admin = new Redis(url);
  const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
  const before = await used();
  const store = await RedisStore.connect({ addrs: [], db: 0, url, prefix: "mem:" });
  const now = Date.now();
  for (let i = 0; i < nodes; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, nodes - i) }, (_, j) => store.register(record(i + j, now), `tok-${i + j}`)),
    );
  const afterNodes = await used();
  const svc = createIslbService(store, new Balancer(store.view));
  for (let i = 0; i < sessions; i += 500)
    await Promise.all(
      Array.from({ length: 500 }, (_, j) =>
        svc.findNode(req(`room-${(i + j).toString(36).padStart(8, "0")}`), {} as never),
      ),
    );
  const afterSessions = await used();
  await store.close();
  admin.disconnect();
  return { perSession: (afterSessions - afterNodes) / sessions, perNode: (afterNodes - before) / nodes };
}

/** Collects, twice with a pause between: ArrayBuffers' contents are freed after their collection, off the main thread. */
async function settled(gc: () => void): Promise<void> {
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
}

/** Keeps what memoryPerNode measures reachable through its second collection. */
const kept: unknown[] = [];

/**
 * Bytes per registered node in the memory store (with its balancer entries): of the JS heap
 * (heapUsed), and of ArrayBuffers (typed arrays' contents, outside that heap) besides.
 */
async function memoryPerNode(n: number): Promise<{ heap: number; arrays: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return { heap: NaN, arrays: NaN };
  await settled(gc);
  const before = process.memoryUsage();
  const store = new MemoryStore({ history: 1 });
  const balancer = new Balancer(store.view);
  const now = Date.now();
  for (let i = 0; i < n; i++) void store.register(record(i, now), ownerToken());
  kept.push(store, balancer);
  await settled(gc);
  const after = process.memoryUsage();
  if (store.view.size !== n) throw new Error(`registered ${store.view.size} of ${n}`);
  return { heap: (after.heapUsed - before.heapUsed) / n, arrays: (after.arrayBuffers - before.arrayBuffers) / n };
}

const memoryLine = (m: { heap: number; arrays: number }): string =>
  `memory per registered node (memory store with its balancer, 100,000 nodes, GC forced): ${
    Number.isNaN(m.heap)
      ? "run with --expose-gc"
      : `${Math.round(m.heap)} bytes of heap, ${Math.round(m.arrays)} of ArrayBuffers besides (${Math.round(m.heap + m.arrays)} in all)`
  }`;
const sessionLine = (b: number): string =>
  `memory per kept session (memory store, 100,000 sessions, GC forced): ${Number.isNaN(b) ? "run with --expose-gc" : `${Math.round(b)} bytes in all (heap and ArrayBuffers)`}`;

async function peer(natsUrl: string, n: number, redisUrl?: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [PEER, natsUrl, String(n), ...(redisUrl ? [redisUrl] : [])], {
    stdio: ["ignore", "pipe", "inherit"],
  });
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

if (flag("memory-only")) {
  // Only the memory figures (a few seconds).
  console.log(memoryLine(await memoryPerNode(100_000)));
  console.log(sessionLine(await memoryPerSession(100_000)));
  process.exit(0);
}

if (flag("server-side")) {
  // Only the service-alone cost and its 100k/1k ratio (about 20 s).
  const costs = await serverSide(SIZES);
  const c1 = costs.get(1_000) as Cost;
  const c100 = costs.get(100_000) as Cost;
  for (const n of SIZES) {
    const c = costs.get(n) as Cost;
    console.log(
      `${n} nodes: new session ${median(c.newUs).toFixed(2)} µs, known session ${median(c.knownUs).toFixed(2)} µs`,
    );
  }
  console.log(
    `ratio 100k/1k (median over ${c1.newUs.length} rounds of each round's ratio): new session ${roundRatio(c100.newUs, c1.newUs).toFixed(2)}, known session ${roundRatio(c100.knownUs, c1.knownUs).toFixed(2)} (target ≤ 1.5)`,
  );
  process.exit(0);
}

const ns = await startNatsServer();
const rs = await startRedisServer();
const rows: string[] = [];
const serverCost: Record<number, { newUs: number; knownUs: number }> = {};
try {
  const nc = await connect({ servers: ns.url, noAsyncTraces: true });
  const client = createClient(ISLBDefinition, nc);
  const costs = await serverSide(SIZES);
  for (const n of SIZES) {
    const c = costs.get(n) as Cost;
    serverCost[n] = { newUs: median(c.newUs), knownUs: median(c.knownUs) };
    const child = await peer(ns.url, n);
    try {
      let k = 0;
      const newPerSec = await load(() => client.findNode({ service: "rtc", sid: `e2e-${n}-${k++}`, region: "r1" }));
      const knownPerSec = await load((i) =>
        client.findNode({ service: "rtc", sid: `e2e-${n}-${i % 1000}`, region: "r1" }),
      );
      const s = serverCost[n] as { newUs: number; knownUs: number };
      rows.push(
        `| ${n.toLocaleString("en")} | ${s.newUs.toFixed(2)} | ${s.knownUs.toFixed(2)} | ${Math.round(newPerSec)} | ${Math.round(knownPerSec)} |`,
      );
      process.stderr.write(`  ${n} nodes done\n`);
    } finally {
      child.kill("SIGKILL");
    }
  }
  const hb: string[] = [];
  for (const redisUrl of [undefined, rs.url]) {
    const child = await peer(ns.url, 10_000, redisUrl);
    try {
      const perSec = await load((i) =>
        client.heartbeat({
          nid: `sfu-${i % 10_000}`,
          token: `tok-${i % 10_000}`,
          load: { sessions: i % 50 },
          leaseMs: 600_000,
        }),
      );
      hb.push(`| ${redisUrl ? "redis" : "memory"} | ${Math.round(perSec)} |`);
    } finally {
      child.kill("SIGKILL");
    }
  }
  await nc.close();
  const mem = await memoryPerNode(100_000);
  const memSession = await memoryPerSession(100_000);
  const redisMem = await redisBytes(rs.url, 100_000, 10_000);
  const c1 = costs.get(1_000) as Cost;
  const c100 = costs.get(100_000) as Cost;
  const s1 = serverCost[1_000] as { newUs: number; knownUs: number };
  const s100 = serverCost[100_000] as { newUs: number; knownUs: number };
  console.log(
    `\nFindNode, one service, nodes in 4 regions, caller prefers one; server-side cost (service alone) and end-to-end over NATS (64 in flight, ${MS} ms):`,
  );
  console.log("| nodes | new session µs | known session µs | new session calls/s | known session calls/s |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
  console.log(
    `\nratio 100k/1k, server-side (the median over ${c1.newUs.length} rounds of each round's ratio): new session ${roundRatio(c100.newUs, c1.newUs).toFixed(2)}, known session ${roundRatio(c100.knownUs, c1.knownUs).toFixed(2)} (target ≤ 1.5); of the medians: ${(s100.newUs / s1.newUs).toFixed(2)}, ${(s100.knownUs / s1.knownUs).toFixed(2)}`,
  );
  console.log("\nheartbeats one instance absorbs (10,000 nodes, 64 in flight):");
  console.log("| store | heartbeats/s |");
  console.log("|---|---:|");
  for (const r of hb) console.log(r);
  console.log(`\n${memoryLine(mem)}`);
  console.log(sessionLine(memSession));
  console.log(
    `redis-server memory (INFO used_memory): ${Math.round(redisMem.perSession)} bytes per session (100,000), ${Math.round(redisMem.perNode)} bytes per node (10,000)`,
  );
} finally {
  await rs.stop();
  await ns.stop();
}
