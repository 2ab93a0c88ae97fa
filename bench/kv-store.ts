/**
 * The stores side by side, the store alone (no gRPC, no islb process): heartbeats/s, new
 * session placements/s and known session lookups/s through one store instance, 64 in flight,
 * 1,000 registered nodes; with CPU µs per operation of this process (the islb side) and of the
 * servers (redis-server, or every nats-server). Stores: Redis (single), NATS KV at R1 on one
 * nats-server, NATS KV at R3 on a 3-server JetStream cluster.
 *   node dist/bench/kv-store.js [--ms 2000]
 * The machine may be shared: CPU per operation and the ratios are steadier than rates.
 */
import { connect, type NatsConnection } from "nats";
import { RedisStore } from "../src/registry/redis.js";
import { NatsKvStore } from "../src/registry/nats-kv.js";
import { toRecord } from "../src/registry/records.js";
import { NodeState, type RegistryStore } from "../src/registry/types.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startNatsCluster } from "../test/helpers/nats-cluster.js";
import { cpuMicros } from "./cpu.js";
import { numberOption } from "./options.js";

const MS = numberOption("ms", 2000);
const NODES = 1000;
const INFLIGHT = 64;

interface Row {
  store: string;
  op: string;
  perSec: number;
  clientUs: number;
  serverUs: number;
}

const selfCpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Runs `call` with INFLIGHT in flight for MS (after a 300 ms warm-up): rate and CPU per call. */
async function measure(
  call: (i: number) => Promise<unknown>,
  pids: number[],
): Promise<{ perSec: number; clientUs: number; serverUs: number }> {
  let n = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    // Known sessions are answered from memory without I/O: yield now and then, or timers never run.
    while (!stop) if ((await call(n++), n % 64 === 0)) await new Promise((r) => setImmediate(r));
  };
  const ws = Array.from({ length: INFLIGHT }, worker);
  await new Promise((r) => setTimeout(r, 300));
  const n0 = n;
  const c0 = selfCpu();
  const s0 = pids.reduce((a, p) => a + cpuMicros(p), 0);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MS));
  const calls = n - n0;
  const secs = (performance.now() - t0) / 1000;
  const client = selfCpu() - c0;
  const server = pids.reduce((a, p) => a + cpuMicros(p), 0) - s0;
  stop = true;
  await Promise.all(ws);
  return { perSec: calls / secs, clientUs: client / calls, serverUs: server / calls };
}

const rec = (nid: string) =>
  toRecord(
    {
      node: { nid, service: "rtc", dc: "", rpc: undefined },
      state: NodeState.NODE_STATE_SERVING,
      region: "",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    600_000,
    Date.now(),
  );

async function bench(name: string, store: RegistryStore, pids: number[]): Promise<Row[]> {
  for (let i = 0; i < NODES; i += 100)
    await Promise.all(Array.from({ length: 100 }, (_, k) => store.register(rec(`n${i + k}`), `t${i + k}`)));
  const load = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
  const out: Row[] = [];
  const hb = await measure(
    (i) =>
      store.heartbeat(
        `n${i % NODES}`,
        `t${i % NODES}`,
        { load: { ...load, sessions: i % 50 }, state: undefined, expiresAt: Date.now() + 600_000, leaseMs: 600_000 },
        undefined,
      ),
    pids,
  );
  out.push({ store: name, op: "heartbeat", ...hb });
  let placed = 0;
  const fresh = await measure(
    () => store.placeSession("rtc", `new-${placed++}`, () => `n${placed % NODES}`, 600_000),
    pids,
  );
  out.push({ store: name, op: "new session", ...fresh });
  const known = await measure((i) => store.placeSession("rtc", `new-${i % 1000}`, () => "n0", 600_000), pids);
  out.push({ store: name, op: "known session", ...known });
  return out;
}

const rows: Row[] = [];
const redis = await startRedisServer();
try {
  const s = await RedisStore.connect({ addrs: [], db: 0, url: redis.url, prefix: "bench:" });
  rows.push(...(await bench("redis", s, [redis.pid])));
  await s.close();
} finally {
  await redis.stop();
}

const single = await startNatsServer();
let nc: NatsConnection | undefined;
try {
  nc = await connect({ servers: single.url });
  const s = await NatsKvStore.connect(nc, { bucket: "bench", replicas: 1 });
  rows.push(...(await bench("nats kv R1", s, [single.pid])));
  await s.close();
} finally {
  await nc?.close();
  await single.stop();
}

const cluster = await startNatsCluster("bench", 3);
try {
  nc = await connect({ servers: cluster.urls.split(",") });
  let s: NatsKvStore | undefined;
  for (const until = Date.now() + 20_000; s === undefined;) {
    try {
      s = await NatsKvStore.connect(nc, { bucket: "bench", replicas: 3 });
    } catch (e) {
      if (Date.now() > until) throw e; // a fresh cluster elects its JetStream meta leader first
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  rows.push(
    ...(await bench(
      "nats kv R3 (3 servers)",
      s,
      cluster.servers.map((x) => x.pid),
    )),
  );
  await s.close();
} finally {
  await nc?.close();
  await cluster.stop();
}

console.log(
  `\nstores side by side: ${NODES} nodes, ${INFLIGHT} in flight, ${MS} ms per row (store calls in this process; CPU per operation)`,
);
console.log("| store | operation | ops/s | islb-side CPU µs/op | server CPU µs/op |");
console.log("|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.store} | ${r.op} | ${Math.round(r.perSec).toLocaleString("en")} | ${r.clientUs.toFixed(1)} | ${r.serverUs.toFixed(1)} |`,
  );
const of = (store: string, op: string): Row | undefined => rows.find((r) => r.store === store && r.op === op);
console.log("\nratios to Redis (ops/s; total CPU µs per op):");
for (const store of ["nats kv R1", "nats kv R3 (3 servers)"]) {
  for (const op of ["heartbeat", "new session", "known session"]) {
    const a = of(store, op);
    const b = of("redis", op);
    if (a === undefined || b === undefined) continue;
    console.log(
      `- ${store}, ${op}: ${(a.perSec / b.perSec).toFixed(2)}× the rate, ${((a.clientUs + a.serverUs) / (b.clientUs + b.serverUs)).toFixed(2)}× the CPU`,
    );
  }
}
