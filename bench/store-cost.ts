/**
 * What the ISLB service and its store cost per call without the bus: the service's handlers
 * called in this process (64 in flight) on the memory store and on the Redis store (a local
 * redis-server), with bench/service.ts's fleet and calls. CPU per call of this process and of
 * redis-server (from /proc), the median of the rounds; new sessions run past the Redis
 * store's placement cache bound (100,000), as a busy instance does. bench/service.ts measures
 * the same calls through NATS; the difference is the transport's.
 *   node dist/bench/store-cost.js [--calls 60000] [--rounds 5]
 */
import { Balancer } from "../src/balancer/balancer.js";
import { createIslbService } from "../src/islb/service.js";
import { MemoryStore } from "../src/registry/memory.js";
import { RedisStore } from "../src/registry/redis.js";
import type { RegistryStore } from "../src/registry/types.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { cpuMicros } from "./cpu.js";
import { sessionRequest } from "./fixtures.js";
import { median } from "./median.js";
import { FLEET, KNOWN, SESSION_SERVICE, heartbeatOf, registration } from "./service-fleet.js";
import { numberOption } from "./options.js";

const CALLS = numberOption("calls", 60_000);
const ROUNDS = numberOption("rounds", 5);
const INFLIGHT = 64;
const ctx = {} as never;
const session = (sid: string) => sessionRequest(sid, "r1");

type Service = ReturnType<typeof createIslbService>;
const KINDS: Array<[string, (svc: Service, round: number, i: number) => Promise<unknown>]> = [
  ["heartbeat (load only)", (svc, _r, i) => svc.heartbeat(heartbeatOf(i % FLEET, i), ctx)],
  ["new session", (svc, r, i) => svc.findNode(session(`new-${r}-${i}`), ctx)],
  ["known session", (svc, _r, i) => svc.findNode(session(`known-${i % KNOWN}`), ctx)],
];

/** CPU µs per call of this process and of redis-server (pid 0: none), `CALLS` calls with INFLIGHT in flight. */
async function measure(call: (i: number) => Promise<unknown>, redisPid: number): Promise<[number, number]> {
  const c0 = process.cpuUsage();
  const r0 = redisPid > 0 ? cpuMicros(redisPid) : 0;
  let i = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (i < CALLS) await call(i++);
    }),
  );
  const c = process.cpuUsage(c0);
  return [(c.user + c.system) / CALLS, redisPid > 0 ? (cpuMicros(redisPid) - r0) / CALLS : 0];
}

const rows: string[] = [];
for (const kind of ["memory", "redis"]) {
  const redis = kind === "redis" ? await startRedisServer() : undefined;
  const store: RegistryStore =
    redis === undefined
      ? new MemoryStore()
      : await RedisStore.connect({ addrs: [], db: 0, url: redis.url, prefix: "cost:" });
  try {
    const svc = createIslbService(store, new Balancer(store.view));
    for (let i = 0; i < FLEET; i++) await svc.register(registration(SESSION_SERVICE, i), ctx);
    for (let i = 0; i < KNOWN; i++) await svc.findNode(session(`known-${i}`), ctx);
    const costs = new Map<string, Array<[number, number]>>(KINDS.map(([k]) => [k, []]));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, call] of KINDS) {
        const c = await measure((i) => call(svc, round, i), redis?.pid ?? 0);
        // Round 0 warms up.
        if (round > 0) costs.get(name)?.push(c);
      }
      process.stderr.write(`${kind} store: round ${round} of ${ROUNDS}\n`);
    }
    for (const [name] of KINDS) {
      const cs = costs.get(name) as Array<[number, number]>;
      const islb = median(cs.map((c) => c[0]));
      rows.push(`| ${kind} | ${name} | ${islb.toFixed(1)} | ${redis ? median(cs.map((c) => c[1])).toFixed(1) : ""} |`);
    }
  } finally {
    await store.close();
    await redis?.stop();
  }
}
console.log(
  `\nthe ISLB service and its store in process (no NATS), ${INFLIGHT} in flight, ${CALLS.toLocaleString("en")} calls a round, median of ${ROUNDS} rounds`,
);
console.log("| store | call | service + store CPU µs/call | redis-server µs/call |");
console.log("|---|---|---:|---:|");
for (const r of rows) console.log(r);
process.exit(0);
