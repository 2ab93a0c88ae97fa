/**
 * What session events "all" costs a new session's placement on the Redis store: islb CPU µs
 * per new placement (this process, from process.cpuUsage, the service and store in process)
 * and Redis calls per placement (EVALSHA, EVAL, PEXPIRE from INFO commandstats), with "moves" and with "all", in one
 * run, alternated three times (each run on keys of its own). 64 lookups in flight; 100 nodes.
 *   node dist/bench/session-events.js [--n 20000]
 */
import { Redis } from "ioredis";
import { Balancer } from "../src/balancer/balancer.js";
import { createIslbService } from "../src/islb/service.js";
import { RedisStore } from "../src/registry/redis.js";
import type { SessionEventsMode } from "../src/registry/model.js";
import { fleetRecord, sessionRequest } from "./fixtures.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { numberOption } from "./options.js";

const N = numberOption("n", 20_000);
const IN_FLIGHT = 64;

async function calls(r: Redis): Promise<number> {
  const info = await r.info("commandstats");
  let n = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|eval|pexpire):calls=(\d+)/g)) n += Number(m[2]);
  return n;
}

let runs = 0;

async function run(url: string, mode: SessionEventsMode): Promise<{ us: number; calls: number }> {
  const prefix = `b${runs++}${mode}:`;
  const store = await RedisStore.connect({ addrs: [], db: 0, url, prefix }, { sessionEvents: mode });
  const now = Date.now();
  for (let i = 0; i < 100; i++) await store.register(fleetRecord(i, now), `tok-${i}`);
  const svc = createIslbService(store, new Balancer(store.view), { sessionEvents: mode });
  const find = (sid: string) => svc.findNode(sessionRequest(sid, "r1"), {} as never);
  for (let i = 0; i < 2000; i++) await find(`warm-${i}`);
  const r = new Redis(url);
  await new Promise((res) => setTimeout(res, 200));
  const c0 = await calls(r);
  const t0 = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) await find(`room-${next++}`);
    }),
  );
  await new Promise((res) => setTimeout(res, 300));
  const t = process.cpuUsage(t0);
  const c1 = await calls(r);
  r.disconnect();
  await store.close();
  return { us: (t.user + t.system) / N, calls: (c1 - c0) / N };
}

const rs = await startRedisServer();
try {
  const out: Record<string, { us: number; calls: number }> = {};
  for (const mode of ["moves", "all", "moves", "all", "moves", "all"] as const) {
    const r = await run(rs.url, mode);
    out[mode] = r;
    console.log(
      `${mode}: ${r.us.toFixed(1)} µs islb CPU per new placement, ${r.calls.toFixed(3)} Redis calls per placement`,
    );
  }
} finally {
  await rs.stop();
}
