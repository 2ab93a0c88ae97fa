/**
 * A heartbeat that changes only load writes only load on the Redis store: the node's `load`,
 * `exp` and `lms` fields (its record stays), and a compact load entry in the stream, which the
 * other instances apply to their view's record. Batched: the heartbeats of one turn are one
 * script call. Anything else (a new state, a node Redis lost) takes the whole write, and every later reader (snapshot, down, expired) sees the latest load.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisStore } from "../../src/registry/redis.js";
import { NodeState, type Load, type NodeRecord, type RegistryEvent } from "../../src/registry/types.js";
import { toRecord } from "../../src/registry/records.js";
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

const load = (sessions: number): Load => ({
  cpu: sessions / 100,
  sessions,
  tracks: 0,
  bandwidthIn: 0,
  bandwidthOut: 0,
});

function rec(nid: string, region = "r1", leaseMs = 60_000): NodeRecord {
  return toRecord(
    {
      node: {
        nid,
        service: "rtc",
        dc: "dc1",
        rpc: { protocol: "nats-grpc", addr: "nats://x", params: new Map([["k", "v"]]) },
      },
      state: NodeState.NODE_STATE_SERVING,
      region,
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    leaseMs,
    Date.now(),
  );
}

async function connect(prefix: string, keyGraceMs?: number): Promise<RedisStore> {
  const s = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix }, { keyGraceMs });
  stores.push(s);
  return s;
}

/** Two instances on a fresh prefix, nodes n1..n3 registered through the first. */
async function pair(): Promise<{ a: RedisStore; b: RedisStore; prefix: string }> {
  const prefix = `hb${n++}:`;
  const a = await connect(prefix);
  const b = await connect(prefix);
  for (const nid of ["n1", "n2", "n3"]) await a.register(rec(nid), `tok-${nid}`);
  assert.ok(await eventually(() => ["n1", "n2", "n3"].every((nid) => b.view.get(nid) !== undefined)));
  return { a, b, prefix };
}

const beat = (
  s: RedisStore,
  nid: string,
  sessions: number,
  extra: { record?: NodeRecord; state?: NodeState; leaseMs?: number } = {},
) =>
  s.heartbeat(
    nid,
    `tok-${nid}`,
    {
      load: load(sessions),
      state: extra.state,
      expiresAt: Date.now() + (extra.leaseMs ?? 60_000),
      leaseMs: extra.leaseMs ?? 60_000,
    },
    extra.record,
  );

async function lastEntry(prefix: string): Promise<Record<string, string>> {
  const [[, fields] = ["", []]] = (await admin.xrevrange(`${prefix}{islb}:events`, "+", "-", "COUNT", 1)) as Array<
    [string, string[]]
  >;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}

/** Calls of a command so far (commands of scripts count too). */
async function calls(command: string): Promise<number> {
  const m = (await admin.info("commandstats")).match(new RegExp(`cmdstat_${command}:calls=(\\d+)`));
  return Number(m?.[1] ?? 0);
}

async function scripts(): Promise<number> {
  const info = await admin.info("commandstats");
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

test("a load-only heartbeat writes only load and lease, as a compact entry the other instance applies to its record", async () => {
  const { a, b, prefix } = await pair();
  const recBefore = await admin.hget(`${prefix}{islb}:node:n1`, "rec");
  const changes: RegistryEvent[] = [];
  b.view.subscribe((e) => changes.push(e));
  const r = await beat(a, "n1", 7, { leaseMs: 90_000 });
  assert.equal(r.refused, undefined);
  assert.equal(a.view.revision, r.revision, "its own write is in its view at once");
  assert.equal(a.view.get("n1")?.load.sessions, 7);
  const entry = await lastEntry(prefix);
  assert.equal(entry.t, "loads");
  const words = (entry.b ?? "").split(" ");
  assert.equal(words.length, 4, "one heartbeat: nid, load, lease end, lease");
  assert.equal(words[0], "n1");
  assert.equal(entry.r, undefined, "no record in the entry");
  assert.equal(words[3], "90000");
  assert.equal(await admin.hget(`${prefix}{islb}:node:n1`, "rec"), recBefore, "the stored record is not rewritten");
  assert.ok(await eventually(() => b.view.get("n1")?.load.sessions === 7));
  const seen = b.view.get("n1") as NodeRecord;
  const mine = a.view.get("n1") as NodeRecord;
  assert.equal(seen.expiresAt, mine.expiresAt);
  assert.equal(seen.leaseMs, 90_000);
  assert.equal(seen.region, "r1", "the rest of the record is the one it had");
  assert.equal(seen.node.rpc?.params.get("k"), "v");
  assert.deepEqual(
    changes.map((e) => [e.type, e.revision]),
    [["updated", r.revision]],
  );
  assert.equal(b.view.revision, a.view.revision);
});

test("own heartbeats the view takes after their replies stay in revision order with a write answered in the same turn", async () => {
  const { a } = await pair();
  for (let i = 0; i < 20; i++) {
    const from = a.view.revision;
    const beaten = beat(a, "n1", 100 + i);
    // Sent right after the heartbeats' script, on the same connection: both answers usually come in one read.
    const up = new Promise<{ revision: number }>((resolve, reject) =>
      setImmediate(() => a.register(rec(`m${i}`), `tok-m${i}`).then(resolve, reject)),
    );
    const [r, u] = await Promise.all([beaten, up]);
    assert.ok(u.revision > r.revision);
    assert.deepEqual(
      (a.view.since(from) ?? []).map((e) => [e.type, e.record.node.nid, e.revision]),
      [
        ["updated", "n1", r.revision],
        ["up", `m${i}`, u.revision],
      ],
    );
    assert.equal(a.view.get("n1")?.load.sessions, 100 + i, "the heartbeat is in the view, not passed over");
  }
});

test("heartbeats of one turn are one script call, one carrying its registration too", async () => {
  const { a, b, prefix } = await pair();
  const before = await scripts();
  const rs1 = await Promise.all([beat(a, "n1", 1), beat(a, "n2", 2), beat(a, "n3", 3, { record: rec("n3") })]);
  assert.equal(await scripts(), before + 1, "one script for the three");
  const entry = await lastEntry(prefix);
  assert.deepEqual(
    (entry.b ?? "").split(" ").filter((_, i) => i % 4 === 0),
    ["n1", "n2", "n3"],
    "one stream entry for the three, in order",
  );
  assert.deepEqual(
    rs1.map((r) => r.refused),
    [undefined, undefined, undefined],
  );
  assert.equal(entry.t, "loads");
  assert.ok(await eventually(() => [1, 2, 3].every((i) => b.view.get(`n${i}`)?.load.sessions === i)));
});

test("a batch with a refused heartbeat in it: the entry names only the written ones, at consecutive revisions", async () => {
  const { a, b, prefix } = await pair();
  const wrong = a.heartbeat(
    "n2",
    "not-the-token",
    { load: load(20), state: undefined, expiresAt: Date.now() + 60_000, leaseMs: 60_000 },
    undefined,
  );
  const [r1, r2, r3] = await Promise.all([beat(a, "n1", 1), wrong, beat(a, "n3", 3)]);
  assert.equal(r2.refused, "token");
  assert.equal(r3.revision, r1.revision + 1, "the written ones take consecutive revisions");
  const words = ((await lastEntry(prefix)).b ?? "").split(" ");
  assert.deepEqual(
    words.filter((_, i) => i % 4 === 0),
    ["n1", "n3"],
  );
  assert.equal(words.length, 8);
  assert.ok(await eventually(() => b.view.get("n3")?.load.sessions === 3 && b.view.revision === a.view.revision));
  assert.equal(b.view.get("n1")?.load.sessions, 1);
  assert.equal(b.view.get("n2")?.load.sessions, 0, "the refused one changed nothing");
});

test("heartbeats renew the key's TTL and the lease's score only when due: the key outlives the lease by at most the grace, the score never passes the lease end, and the lease ends when it does", async () => {
  const prefix = `hb${n++}:`;
  const grace = 400;
  const a = await connect(prefix, grace);
  const key = `${prefix}{islb}:node:n1`;
  const leases = `${prefix}{islb}:leases`;
  await a.register(rec("n1", "r1", 600), "tok-n1");
  const [pexpires, zadds] = [await calls("pexpire"), await calls("zadd")];
  const beats = 10;
  let exp = 0;
  for (let i = 0; i < beats; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const r = await beat(a, "n1", i, { leaseMs: 600 });
    assert.equal(r.refused, undefined);
    exp = Number(await admin.hget(key, "exp"));
    const keyEnd = Date.now() + (await admin.pttl(key));
    assert.ok(keyEnd >= exp, `the key (until ${keyEnd}) outlives the lease (until ${exp})`);
    assert.ok(
      keyEnd <= exp + grace + 100,
      `the key (until ${keyEnd}) outlives the lease (${exp}) by at most the grace`,
    );
    assert.ok(Number(await admin.zscore(leases, "n1")) <= exp, "the lease's score does not pass its end");
  }
  assert.ok((await calls("pexpire")) - pexpires < beats, "not every heartbeat renews the key's TTL");
  assert.ok((await calls("zadd")) - zadds < beats, "not every heartbeat renews the lease's score");
  // A score that lags the lease: the sweep at it keeps the node, and re-scores it.
  const score = Number(await admin.zscore(leases, "n1"));
  if (score < exp) {
    await a.sweep(score);
    assert.notEqual(a.view.get("n1"), undefined, "kept: its lease still holds");
    assert.equal(Number(await admin.zscore(leases, "n1")), exp);
  }
  await a.sweep(exp - 1);
  assert.notEqual(a.view.get("n1"), undefined);
  await a.sweep(exp);
  assert.equal(a.view.get("n1"), undefined, "expired at its lease end");
});

test("a new state or a changed registration is a whole write; snapshots, drains and removals carry the latest load", async () => {
  const { a, b, prefix } = await pair();
  await beat(a, "n1", 5);
  // A third instance starting now reads the load from the snapshot.
  const c = await connect(prefix);
  assert.equal(c.view.get("n1")?.load.sessions, 5);
  assert.equal(c.view.get("n1")?.expiresAt, a.view.get("n1")?.expiresAt);
  // The registration a heartbeat carries is for a registry that lost the node: a known node's stays.
  await beat(a, "n2", 6, { record: rec("n2", "r9") });
  let e = await lastEntry(prefix);
  assert.equal(e.t, "loads");
  assert.ok(await eventually(() => b.view.get("n2")?.load.sessions === 6));
  assert.equal(b.view.get("n2")?.region, "r1");
  // Draining after load-only heartbeats: the record is whole again.
  await beat(a, "n1", 8, { state: NodeState.NODE_STATE_DRAINING });
  e = await lastEntry(prefix);
  assert.equal(e.t, "draining");
  assert.equal(await admin.hget(`${prefix}{islb}:node:n1`, "load"), null, "the load fields went into the record");
  assert.ok(
    await eventually(
      () => b.view.get("n1")?.state === NodeState.NODE_STATE_DRAINING && b.view.get("n1")?.load.sessions === 8,
    ),
  );
  // A removal after a load-only heartbeat reports the latest load.
  await beat(a, "n3", 9);
  const downs: RegistryEvent[] = [];
  b.view.subscribe((x) => x.type === "down" && downs.push(x));
  await a.deregister("n3", "tok-n3");
  assert.ok(await eventually(() => downs.length === 1));
  assert.equal(downs[0]?.record.load.sessions, 9);
});

test("a load-only heartbeat with the wrong token is refused; one of a node Redis lost re-registers it from its registration", async () => {
  const { a, b, prefix } = await pair();
  const r = await a.heartbeat(
    "n1",
    "not-the-token",
    { load: load(1), state: undefined, expiresAt: Date.now() + 60_000, leaseMs: 60_000 },
    undefined,
  );
  assert.equal(r.refused, "token");
  await admin.del(`${prefix}{islb}:node:n2`);
  assert.equal((await beat(a, "n2", 2)).refused, "unknown", "without a registration: unknown");
  const again = await beat(a, "n2", 3, { record: rec("n2") });
  assert.equal(again.reregistered, true);
  assert.ok(await eventually(() => b.view.get("n2")?.load.sessions === 3));
});

test("two instances heartbeating at once: replies do not wait on each other's changes, views agree, each change is reported locally once", async () => {
  const { a, b } = await pair();
  const local = new Map<RedisStore, number[]>([
    [a, []],
    [b, []],
  ]);
  for (const [s, revs] of local) s.onLocalChange((e) => revs.push(e.revision));
  const writes: Array<Promise<{ s: RedisStore; revision: number }>> = [];
  for (let i = 0; i < 200; i++) {
    for (const s of [a, b]) {
      const nid = `n${1 + (i % 3)}`;
      writes.push(beat(s, nid, i).then((r) => ({ s, revision: r.revision })));
    }
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  const done = await Promise.all(writes);
  const top = Math.max(...done.map((d) => d.revision));
  assert.ok(await eventually(() => a.view.revision === top && b.view.revision === top));
  for (const nid of ["n1", "n2", "n3"]) assert.deepEqual(a.view.get(nid)?.load, b.view.get(nid)?.load);
  // Every accepted heartbeat has its own revision, reported by the instance it went through, once.
  assert.equal(new Set(done.map((d) => d.revision)).size, done.length);
  assert.ok(
    await eventually(() => (local.get(a) as number[]).length + (local.get(b) as number[]).length === done.length),
  );
  for (const s of [a, b])
    assert.deepEqual(
      [...(local.get(s) as number[])].sort((x, y) => x - y),
      done
        .filter((d) => d.s === s)
        .map((d) => d.revision)
        .sort((x, y) => x - y),
    );
});
