/**
 * Soak: N node agents heartbeating against islb for a long run, sessions looked up all the
 * while; passes when no node ever expired, none had to register again, and every session kept
 * its node. Not part of make test (it takes minutes): `make soak` or
 *   node dist/bench/soak.js [--seconds 120] [--nodes 50] [--redis]
 */
import { connect } from "nats";
import { ISLBDefinition, WatchEvent_Type } from "../generated/islb/islb.js";
import { createClient } from "../src/index.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../test/helpers/islb.js";
import { flag, numberOption } from "./options.js";

const SECONDS = numberOption("seconds", 120);
const NODES = numberOption("nodes", 50);
const REDIS = flag("redis");

const ns = await startNatsServer();
const rs = REDIS ? await startRedisServer() : undefined;
const islb = await startIslb(ns.url, { nid: "islb-soak", redis: rs ? redisConfig(rs.url) : undefined });
const agents = await Promise.all(
  Array.from({ length: NODES }, (_, i) =>
    startAgent(ns.url, `sfu-${i}`, {}, { leaseMs: 1500, load: () => ({ sessions: i % 7 }) }),
  ),
);
const nc = await connect({ servers: ns.url });
const client = createClient(ISLBDefinition, nc);
let expired = 0;
const ac = new AbortController();
const watching = (async () => {
  try {
    for await (const e of client.watch({}, { signal: ac.signal }))
      if (e.type === WatchEvent_Type.TYPE_EXPIRED || e.type === WatchEvent_Type.TYPE_DOWN) expired++;
  } catch {
    /* aborted */
  }
})();
const placed = new Map<string, string>();
let lookups = 0;
let moved = 0;
const until = Date.now() + SECONDS * 1000;
process.stderr.write(`soak: ${NODES} nodes, lease 1.5 s, ${SECONDS} s${REDIS ? ", Redis store" : ""}\n`);
while (Date.now() < until) {
  const sid = `room-${lookups % 500}`;
  const r = await client.findNode({ service: "rtc", sid });
  const nid = r.nodes[0]?.nid as string;
  const before = placed.get(sid);
  if (before !== undefined && before !== nid) moved++;
  placed.set(sid, nid);
  lookups++;
  await new Promise((r2) => setTimeout(r2, 5));
}
ac.abort();
await watching;
const reregistered = agents.filter((a) => a.agent.registrations !== 1).length;
const heartbeats = agents.reduce((n, a) => n + a.agent.heartbeats, 0);
const found = (await client.findNode({ service: "rtc" })).nodes.length;
console.log(
  `lookups ${lookups}, heartbeats ${heartbeats}, nodes found ${found}/${NODES}, expired or down ${expired}, re-registered ${reregistered}, sessions moved ${moved}`,
);
for (const a of agents) {
  await a.agent.stop();
  await a.nc.close();
}
await nc.close();
await islb.close();
await rs?.stop();
await ns.stop();
const ok = expired === 0 && reregistered === 0 && moved === 0 && found === NODES;
console.log(ok ? "soak: PASS" : "soak: FAIL");
process.exit(ok ? 0 : 1);
