/**
 * Known sessions on the Redis store are answered from the instance's memory while the
 * placement holds, and every caller through any instance still gets the same node: after a
 * placement through another instance, a release, a drain, and while the idle time runs.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisStore } from "../../src/registry/redis.js";
import { NodeState } from "../../src/registry/types.js";
import { nodeRecord } from "../helpers/records.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";

let rs: RedisServerProcess;
let admin: Redis;
let n = 0;
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

/** Two instances on one fresh key prefix, with nodes n1 and n2 registered through the first. */
async function pair(): Promise<{ a: RedisStore; b: RedisStore; prefix: string }> {
  const prefix = `k${n++}:`;
  const a = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix });
  const b = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix });
  stores.push(a, b);
  for (const nid of ["n1", "n2"]) await a.register(rec(nid), `tok-${nid}`);
  assert.ok(await eventually(() => b.view.get("n1") !== undefined && b.view.get("n2") !== undefined));
  return { a, b, prefix };
}

const rec = (nid: string) => nodeRecord(nid);

/** Scripts Redis has run so far (PLACE is one). */
async function scripts(): Promise<number> {
  const info = await admin.info("commandstats");
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

test("a session placed through one instance is read through the other, then answered from memory (no script per lookup)", async () => {
  const { a, b } = await pair();
  const placed = await a.placeSession("rtc", "room", () => "n1", 60_000);
  assert.deepEqual(placed, { nid: "n1", placed: true });
  assert.deepEqual(
    await b.placeSession("rtc", "room", () => "n2", 60_000),
    { nid: "n1", placed: false },
    "read after placement, through the other instance",
  );
  const before = await scripts();
  for (let i = 0; i < 200; i++) {
    for (const s of [a, b]) assert.equal((await s.placeSession("rtc", "room", () => "n2", 60_000))?.nid, "n1");
  }
  const ran = (await scripts()) - before;
  assert.ok(ran <= 2, `${ran} scripts for 400 known lookups`);
});

test("a release through one instance reaches the other: both then agree on the new placement", async () => {
  const { a, b } = await pair();
  await a.placeSession("rtc", "room", () => "n1", 60_000);
  assert.equal((await b.placeSession("rtc", "room", () => "n2", 60_000))?.nid, "n1");
  assert.equal(await a.releaseSession("rtc", "room", { nid: "n1", token: "tok-n1" }), "released");
  assert.deepEqual(await a.placeSession("rtc", "room", () => "n2", 60_000), { nid: "n2", placed: true });
  let followed = false;
  for (const t0 = Date.now(); !followed && Date.now() - t0 < 1000;) {
    followed = (await b.placeSession("rtc", "room", () => "n1", 60_000))?.nid === "n2";
    if (!followed) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(followed, "the other instance follows");
  for (let i = 0; i < 20; i++) assert.equal((await b.placeSession("rtc", "room", () => "n1", 60_000))?.nid, "n2");
});

test("a host that drains, seen through the other instance, is replaced there too: one node for every caller", async () => {
  const { a, b } = await pair();
  await a.placeSession("rtc", "room", () => "n1", 60_000);
  assert.equal((await b.placeSession("rtc", "room", () => "n2", 60_000))?.nid, "n1");
  await a.heartbeat(
    "n1",
    "tok-n1",
    { load: rec("n1").load, state: NodeState.NODE_STATE_DRAINING, expiresAt: Date.now() + 60_000, leaseMs: 60_000 },
    undefined,
  );
  assert.ok(await eventually(() => b.view.get("n1")?.state === NodeState.NODE_STATE_DRAINING));
  const moved = await b.placeSession("rtc", "room", () => "n2", 60_000);
  assert.deepEqual(moved, { nid: "n2", placed: true });
  assert.equal((await a.placeSession("rtc", "room", () => "n1", 60_000))?.nid, "n2");
});

test("lookups answered from memory keep the session alive in Redis for its idle time", async () => {
  const { a, b, prefix } = await pair();
  const idle = 1500;
  await a.placeSession("rtc", "room", () => "n1", idle);
  const until = Date.now() + 3500;
  while (Date.now() < until) {
    for (const s of [a, b]) assert.equal((await s.placeSession("rtc", "room", () => "n2", idle))?.nid, "n1");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((await admin.pttl(`${prefix}{islb}:s:rtc.room`)) > 0, "still in Redis after more than twice its idle time");
  await new Promise((r) => setTimeout(r, idle + 200));
  assert.equal(await admin.exists(`${prefix}{islb}:s:rtc.room`), 0, "gone once lookups stop");
  assert.deepEqual(
    await b.placeSession("rtc", "room", () => "n2", idle),
    { nid: "n2", placed: true },
    "and memory forgot it too",
  );
});
