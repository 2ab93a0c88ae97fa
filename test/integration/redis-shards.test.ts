/**
 * The Redis store's keyspace in shards (src/registry/redis-layout.ts), on a real 3-master
 * Redis Cluster: each service's keys in one slot, different services' in different slots (on
 * different masters when their shards' slots are), so writes of different services go to
 * different masters; instances agree on the view's revision once they applied the same changes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisStore } from "../../src/registry/redis.js";
import { redisLayout, slotOfTag } from "../../src/registry/redis-layout.js";
import { NodeState, type NodeRecord, type RegistryEvent } from "../../src/registry/types.js";
import { toRecord } from "../../src/registry/records.js";
import { startRedisCluster } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";

let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
const stores: RedisStore[] = [];
let n = 0;

before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  for (const s of stores) await s.close();
  await cluster.stop();
});

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
    60_000,
    Date.now(),
  );
}

async function open(prefix: string): Promise<RedisStore> {
  const s = await RedisStore.connect({ addrs: cluster.addrs, db: 0, prefix });
  stores.push(s);
  return s;
}

/** Each master's address, and the slot ranges it serves (CLUSTER SLOTS). */
async function masters(): Promise<Array<{ port: number; ranges: Array<[number, number]> }>> {
  const r = new Redis(Number(cluster.addrs[0]?.split(":")[1]), "127.0.0.1");
  try {
    const slots = (await r.cluster("SLOTS")) as unknown as Array<[number, number, [string, number]]>;
    const by = new Map<number, Array<[number, number]>>();
    for (const [lo, hi, [, port]] of slots) by.set(port, [...(by.get(port) ?? []), [lo, hi]]);
    return [...by].map(([port, ranges]) => ({ port, ranges }));
  } finally {
    r.disconnect();
  }
}

const masterOf = (ms: Awaited<ReturnType<typeof masters>>, slot: number): number =>
  ms.find((m) => m.ranges.some(([lo, hi]) => slot >= lo && slot <= hi))?.port ?? -1;

/** Two services whose keys are in shards on different masters. */
function twoServices(
  ms: Awaited<ReturnType<typeof masters>>,
  layout: ReturnType<typeof redisLayout>,
): [string, string] {
  const tagOf = (svc: string): string => /\{([^}]*)\}/.exec(layout.shards[layout.of(svc)]?.node ?? "")?.[1] ?? "";
  const first = "rtc";
  for (let i = 0; ; i++) {
    const other = `svc${i}`;
    if (masterOf(ms, slotOfTag(tagOf(other))) !== masterOf(ms, slotOfTag(tagOf(first)))) return [first, other];
  }
}

async function evalshaCalls(port: number): Promise<number> {
  const r = new Redis(port, "127.0.0.1");
  try {
    const info = await r.info("commandstats");
    let calls = 0;
    for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
    return calls;
  } finally {
    r.disconnect();
  }
}

test("a Cluster's default layout: 6 shards, two per master; a shard's slot is the one Redis computes for its keys", async () => {
  const layout = redisLayout("islb:", 6);
  const ms = await masters();
  assert.equal(ms.length, 3);
  const perMaster = new Map<number, number>();
  const r = new Redis(ms[0]?.port as number, "127.0.0.1");
  try {
    for (const k of layout.shards) {
      const tag = /\{([^}]*)\}/.exec(k.node)?.[1] as string;
      const slot = slotOfTag(tag);
      for (const key of [k.node + "n1", k.nodes, k.leases, k.events, k.rev, k.session + "rtc.s1", k.sessionChanges])
        assert.equal(await r.cluster("KEYSLOT", key), slot, `${key} is in its shard's slot`);
      perMaster.set(masterOf(ms, slot), (perMaster.get(masterOf(ms, slot)) ?? 0) + 1);
    }
  } finally {
    r.disconnect();
  }
  assert.deepEqual([...perMaster.values()], [2, 2, 2], "two shards on each master");
});

test("keys of two services land in different slots (on different masters), and so do their writes", async () => {
  const prefix = `sh${n++}:`;
  const a = await open(prefix);
  assert.equal(a.shards, 6);
  const layout = redisLayout(prefix, 6);
  const ms = await masters();
  const [s1, s2] = twoServices(ms, layout);
  await a.register(rec("a1", s1), "t");
  await a.register(rec("b1", s2), "t");
  const k1 = layout.shards[layout.of(s1)]?.node + "a1";
  const k2 = layout.shards[layout.of(s2)]?.node + "b1";
  const r = new Redis(ms[0]?.port as number, "127.0.0.1");
  let slot1 = -1;
  let slot2 = -1;
  try {
    slot1 = (await r.cluster("KEYSLOT", k1)) as number;
    slot2 = (await r.cluster("KEYSLOT", k2)) as number;
  } finally {
    r.disconnect();
  }
  assert.notEqual(slot1, slot2, "different slots");
  const m1 = masterOf(ms, slot1);
  const m2 = masterOf(ms, slot2);
  assert.notEqual(m1, m2, "different masters");
  // Each key is on its master (EXISTS there, not redirected).
  for (const [port, key] of [
    [m1, k1],
    [m2, k2],
  ] as Array<[number, string]>) {
    const m = new Redis(port, "127.0.0.1");
    try {
      assert.equal(await m.exists(key), 1, `${key} is on the master serving its slot`);
    } finally {
      m.disconnect();
    }
  }
  // Heartbeats of the first service run scripts on its master only.
  const before1 = await evalshaCalls(m1);
  const before2 = await evalshaCalls(m2);
  for (let i = 0; i < 5; i++)
    await a.heartbeat(
      "a1",
      "t",
      {
        load: { cpu: 0, sessions: i, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
        state: undefined,
        expiresAt: Date.now() + 60_000,
        leaseMs: 60_000,
      },
      undefined,
    );
  assert.equal((await evalshaCalls(m1)) - before1, 5);
  assert.equal((await evalshaCalls(m2)) - before2, 0);
  assert.equal(a.view.get("a1")?.load.sessions, 4);
});

test("sharded: two instances writing several services at once agree on every node and on the revision; a watcher sees each service's changes in order", async () => {
  const prefix = `sh${n++}:`;
  const a = await open(prefix);
  const b = await open(prefix);
  const services = ["rtc", "sig", "svc0", "svc1", "svc2", "svc3"];
  const seen: RegistryEvent[] = [];
  b.view.subscribe((e) => seen.push(e));
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 60; i++) {
    const s = i % 2 === 0 ? a : b;
    const svc = services[i % services.length] as string;
    writes.push(s.register(rec(`n${i}`, svc), "t"));
  }
  await Promise.all(writes);
  // A heartbeat goes through an instance that knows its node (the other one's view has it soon).
  assert.ok(await eventually(() => a.view.size === 60 && b.view.size === 60));
  for (let round = 0; round < 3; round++) {
    const beats: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++)
      beats.push(
        (i % 2 === 0 ? b : a).heartbeat(
          `n${i}`,
          "t",
          {
            load: { cpu: 0, sessions: round * 100 + i, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
            state: undefined,
            expiresAt: Date.now() + 60_000,
            leaseMs: 60_000,
          },
          undefined,
        ),
      );
    await Promise.all(beats);
  }
  await a.deregister("n0", "t");
  assert.ok(await eventually(() => a.view.revision === b.view.revision && b.view.get("n0") === undefined));
  for (let i = 1; i < 60; i++) {
    assert.equal(a.view.get(`n${i}`)?.load.sessions, 200 + i);
    assert.equal(b.view.get(`n${i}`)?.load.sessions, 200 + i);
  }
  // The view's revisions grow by one per change; a late instance starts at the same one.
  for (let i = 1; i < seen.length; i++)
    assert.ok((seen[i] as RegistryEvent).revision > (seen[i - 1] as RegistryEvent).revision);
  const c = await open(prefix);
  assert.equal(c.view.revision, a.view.revision);
  assert.equal(c.view.size, 59);
  // Per node, b's watcher saw register, then the three heartbeats in order.
  const perNode = new Map<string, number[]>();
  for (const e of seen)
    if (e.type === "updated")
      perNode.set(e.record.node.nid, [...(perNode.get(e.record.node.nid) ?? []), e.record.load.sessions]);
  for (let i = 1; i < 60; i++) assert.deepEqual(perNode.get(`n${i}`), [i, 100 + i, 200 + i]);
});
