/**
 * One islb instance's Redis store, for bench/redis-cluster.ts (a child process, IPC):
 * connects with the configuration it is given, registers its own nodes (`<worker>-<service>-<i>`),
 * says "ready", and on "go" runs `kind` (heartbeat: load-only heartbeats round robin over its
 * nodes; new: placements of new sessions, round robin over the services) with `inflight` calls
 * in flight for `ms`, then sends its calls and CPU time.
 *   node redis-cluster-worker.js <config JSON> <kind> <ms> <inflight> <worker> <services> <nodes per service>
 */
import { RedisStore, type RedisConfig } from "../src/registry/redis.js";
import { toRecord } from "../src/registry/records.js";
import { NodeState, type NodeRecord } from "../src/registry/types.js";

const [cfgJson, kind, msArg, inflightArg, worker, servicesArg, perServiceArg] = process.argv.slice(2) as string[];
const cfg = JSON.parse(cfgJson as string) as RedisConfig;
const services = Array.from({ length: Number(servicesArg) }, (_, i) => `svc${i}`);
const perService = Number(perServiceArg);
const LEASE = 300_000;

function rec(nid: string, service: string): NodeRecord {
  return toRecord(
    {
      node: { nid, service, dc: "dc1", rpc: { protocol: "nats-grpc", addr: "nats://x", params: new Map() } },
      state: NodeState.NODE_STATE_SERVING,
      region: "r1",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    LEASE,
    Date.now(),
  );
}

const store = await RedisStore.connect(cfg, { commandTimeoutMs: 5000 });
const nodes: Array<{ nid: string; service: string }> = [];
for (const service of services)
  for (let i = 0; i < perService; i++) nodes.push({ nid: `w${worker}-${service}-${i}`, service });
for (let i = 0; i < nodes.length; i += 256)
  await Promise.all(nodes.slice(i, i + 256).map((n) => store.register(rec(n.nid, n.service), `tok-${n.nid}`)));

let k = 0;
let calls = 0;
let failed = 0;
const one = async (): Promise<void> => {
  const i = k++;
  if (kind === "heartbeat") {
    const n = nodes[i % nodes.length] as { nid: string };
    const r = await store.heartbeat(
      n.nid,
      `tok-${n.nid}`,
      {
        load: { cpu: (i % 50) / 100, sessions: i % 50, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
        state: undefined,
        expiresAt: Date.now() + LEASE,
        leaseMs: LEASE,
      },
      undefined,
    );
    if (r.refused !== undefined) failed++;
  } else {
    const service = services[i % services.length] as string;
    const cand = `w${worker}-${service}-${Math.floor(i / services.length) % perService}`;
    const p = await store.placeSession(service, `s${worker}-${process.pid}-${i}`, () => cand, 600_000);
    if (p === undefined) failed++;
  }
  calls++;
};

process.on("message", (m) => {
  if (m !== "go") return;
  void (async () => {
    let stop = false;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    setTimeout(() => (stop = true), Number(msArg));
    await Promise.all(
      Array.from({ length: Number(inflightArg) }, async () => {
        while (!stop) await one();
      }),
    );
    const cpu = process.cpuUsage(c0);
    const seconds = (performance.now() - t0) / 1000;
    process.send?.({ calls, failed, seconds, cpuUs: cpu.user + cpu.system });
    await store.close();
    process.exit(0);
  })();
});
process.send?.("ready");
