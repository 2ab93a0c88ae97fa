/**
 * Placements on the Redis store that arrive in one turn of the event loop go to Redis in a few
 * script calls of at most 64 (turn-batch.ts), in order, and every caller through any instance
 * still gets the same node: two lookups of one new session in the same turn get the node the
 * first placed, in the same call or in a later one.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisStore } from "../../src/registry/redis.js";
import { NodeState, type NodeRecord } from "../../src/registry/types.js";
import { toRecord } from "../../src/registry/records.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";

let rs: RedisServerProcess;
let admin: Redis;
const stores: RedisStore[] = [];

before(async () => {
  rs = await startRedisServer();
  admin = new Redis(rs.url);
});
after(async () => {
  for (const s of stores) await s.close();
  admin.disconnect();
  await rs.stop();
});

function rec(nid: string): NodeRecord {
  return toRecord(
    {
      node: { nid, service: "rtc", dc: "", rpc: undefined },
      state: NodeState.NODE_STATE_SERVING,
      region: "",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    60_000,
    Date.now(),
  );
}

async function scripts(): Promise<number> {
  const info = await admin.info("commandstats");
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

test("the placements of one turn go in a few script calls per instance (24 at once as they come, the rest at the end of the turn), and every caller of a session gets the same node", async () => {
  const a = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix: "pb:" });
  const b = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix: "pb:" });
  stores.push(a, b);
  for (const nid of ["n1", "n2", "n3"]) await a.register(rec(nid), `tok-${nid}`);
  assert.ok(await eventually(() => b.view.get("n3") !== undefined));
  const before = await scripts();
  // Each session looked up twice through each instance in the same turn, each instance with its own candidate.
  const sids = Array.from({ length: 100 }, (_, i) => `room-${i}`);
  const calls = sids.flatMap((sid, i) => [
    a.placeSession("rtc", sid, () => (i % 2 === 0 ? "n1" : "n2"), 60_000).then((p) => ({ sid, p })),
    b.placeSession("rtc", sid, () => "n3", 60_000).then((p) => ({ sid, p })),
    a.placeSession("rtc", sid, () => "n3", 60_000).then((p) => ({ sid, p })),
    b.placeSession("rtc", sid, () => "n1", 60_000).then((p) => ({ sid, p })),
  ]);
  const got = await Promise.all(calls);
  const scriptCalls = (await scripts()) - before;
  // 200 lookups through each instance in one turn: 24 go at once as they come (8 calls), the
  // 8 left at the end of the turn in one: 9 calls each, none over 64.
  assert.ok(scriptCalls <= 18, `${scriptCalls} script calls for 400 lookups`);
  for (const sid of sids) {
    const mine = got.filter((g) => g.sid === sid);
    const nodes = new Set(mine.map((g) => g.p?.nid));
    assert.equal(nodes.size, 1, `${sid} went to ${[...nodes].join(", ")}`);
    assert.equal(mine.filter((g) => g.p?.placed === true).length, 1, `${sid} placed once`);
    assert.equal(await admin.get(`pb:{islb}:s:rtc.${sid}`), mine[0]?.p?.nid, "the node Redis holds");
  }
});

test("session ids with spaces go in one batch with others, each to its own node; one with a separator of the batch is refused, not misread", async () => {
  const a = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix: "pbs:" });
  stores.push(a);
  for (const nid of ["n1", "n2"]) await a.register(rec(nid), `tok-${nid}`);
  const [p1, p2] = await Promise.all([
    a.placeSession("rtc", "room one", () => "n1", 60_000),
    a.placeSession("rtc", "room two", () => "n2", 60_000),
  ]);
  assert.deepEqual([p1?.nid, p2?.nid], ["n1", "n2"]);
  assert.equal(await admin.get("pbs:{islb}:s:rtc.room one"), "n1");
  await assert.rejects(a.placeSession("rtc", "room\x1fn2\x1f1\x1frtc\x1f\x1e", () => "n1", 60_000));
});
