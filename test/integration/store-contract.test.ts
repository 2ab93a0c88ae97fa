/** One contract, run against every store: the memory store, the Redis store (real redis-server) and the NATS KV store (real nats-server, JetStream). */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/registry/memory.js";
import { RedisStore, type RedisConfig } from "../../src/registry/redis.js";
import { connect, type NatsConnection } from "nats";
import { NatsKvStore } from "../../src/registry/nats-kv.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { NodeState, type NodeRecord, type RegistryEvent, type RegistryStore } from "../../src/registry/types.js";
import { eventually } from "../helpers/setup.js";
import {
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  type RedisServerProcess,
} from "../helpers/redis-server.js";

const LOAD = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };

function rec(nid: string, service = "rtc", leaseMs = 6000, state = NodeState.NODE_STATE_SERVING): NodeRecord {
  const now = Date.now();
  return {
    node: { dc: "dc1", nid, service, rpc: { protocol: "nats-grpc", addr: "nats://x", params: new Map([["k", "v"]]) } },
    state,
    region: "eu",
    load: LOAD,
    soft: LOAD,
    hard: LOAD,
    extra: new Map([
      [
        "zone",
        {
          intValue: undefined,
          stringValue: "eu-west",
          uintValue: undefined,
          floatValue: undefined,
          boolValue: undefined,
          goType: "string",
        },
      ],
    ]),
    registeredAt: now,
    expiresAt: now + leaseMs,
    leaseMs,
  };
}

interface Subject {
  name: string;
  open(): Promise<RegistryStore>;
  /** A second store on the same backend (for shared stores), or undefined. */
  twin?(): Promise<RegistryStore>;
  close(): Promise<void>;
}

let redis: RedisServerProcess | undefined;
let cluster: Awaited<ReturnType<typeof startRedisCluster>> | undefined;
let sentinel: Awaited<ReturnType<typeof startRedisSentinel>> | undefined;
let prefixN = 0;
const opened: RegistryStore[] = [];

type RedisTarget = Omit<RedisConfig, "prefix">;

/** A Redis-backed subject: every test gets a fresh key prefix; the twin shares it. */
function redisSubject(name: string, target: () => RedisTarget): Subject {
  let prefix = "";
  const connect = async () => {
    const s = await RedisStore.connect({ ...target(), prefix });
    opened.push(s);
    return s;
  };
  return {
    name,
    open: async () => {
      prefix = `t${prefixN++}:`;
      return connect();
    },
    twin: connect,
    close: async () => {
      for (const s of opened.splice(0)) await s.close();
    },
  };
}

let nats: NatsServerProcess | undefined;
const conns: NatsConnection[] = [];

/** A NATS KV subject: every test gets a fresh bucket; the twin shares it (each store on its own connection). */
function kvSubject(name: string): Subject {
  let bucket = "";
  const kvOpened: NatsKvStore[] = [];
  const connectKv = async () => {
    const nc = await connect({ servers: nats?.url });
    conns.push(nc);
    const s = await NatsKvStore.connect(nc, { bucket, replicas: 1 });
    kvOpened.push(s);
    return s;
  };
  return {
    name,
    open: async () => {
      bucket = `t${prefixN++}`;
      return connectKv();
    },
    twin: connectKv,
    close: async () => {
      for (const s of kvOpened.splice(0)) await s.close();
      for (const nc of conns.splice(0)) await nc.close();
    },
  };
}

const subjects: Subject[] = [
  { name: "memory", open: async () => new MemoryStore(), close: async () => {} },
  redisSubject("redis", () => ({ addrs: [], db: 0, url: redis?.url })),
  redisSubject("redis, keys in 4 shards", () => ({ addrs: [], db: 0, url: redis?.url, shards: 4 })),
  redisSubject("redis cluster (3 masters), keys in 6 shards (its default)", () => ({
    addrs: cluster?.addrs ?? [],
    db: 0,
  })),
  redisSubject("redis cluster (3 masters), every key in one slot", () => ({
    addrs: cluster?.addrs ?? [],
    db: 0,
    shards: 1,
  })),
  redisSubject("redis behind sentinel", () => ({
    addrs: [],
    db: 0,
    sentinels: sentinel?.sentinels,
    masterName: sentinel?.masterName,
  })),
  kvSubject("nats kv (JetStream)"),
];

before(async () => {
  [redis, cluster, sentinel, nats] = await Promise.all([
    startRedisServer(),
    startRedisCluster(),
    startRedisSentinel(),
    startNatsServer(),
  ]);
});
after(async () => {
  await Promise.all([redis?.stop(), cluster?.stop(), sentinel?.stop(), nats?.stop()]);
});

for (const sub of subjects) {
  describe(`store contract: ${sub.name}`, () => {
    after(() => sub.close());

    test("register, token ownership, heartbeat, deregister; changes in revision order", async () => {
      const s = await sub.open();
      const events: RegistryEvent[] = [];
      s.view.subscribe((e) => events.push(e));
      const r1 = await s.register(rec("a"), "tok-a");
      assert.equal(r1.refused, undefined);
      assert.equal(s.view.get("a")?.node.rpc?.params.get("k"), "v");
      assert.equal(s.view.get("a")?.extra.get("zone")?.stringValue, "eu-west", "extra info kept");
      assert.equal((await s.register(rec("a"), "other")).refused, "token", "another owner cannot take the id");
      const hb = await s.heartbeat(
        "a",
        "tok-a",
        { load: { ...LOAD, sessions: 7 }, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
        undefined,
      );
      assert.equal(hb.refused, undefined);
      assert.equal(s.view.get("a")?.load.sessions, 7);
      assert.equal(
        (
          await s.heartbeat(
            "a",
            "other",
            { load: LOAD, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
            undefined,
          )
        ).refused,
        "token",
      );
      await s.heartbeat(
        "a",
        "tok-a",
        { load: LOAD, state: NodeState.NODE_STATE_DRAINING, expiresAt: Date.now() + 6000, leaseMs: 6000 },
        undefined,
      );
      assert.equal((await s.deregister("a", "other")).refused, "token");
      assert.equal(s.view.get("a")?.state, NodeState.NODE_STATE_DRAINING);
      const d = await s.deregister("a", "tok-a");
      assert.equal(d.refused, undefined);
      assert.equal(s.view.get("a"), undefined);
      await eventually(() => events.length === 4);
      assert.deepEqual(
        events.map((e) => e.type),
        ["up", "updated", "draining", "down"],
        "refused writes change nothing",
      );
      for (let i = 1; i < events.length; i++)
        assert.equal((events[i] as RegistryEvent).revision, (events[i - 1] as RegistryEvent).revision + 1);
      assert.deepEqual(
        s.view.since((events[0] as RegistryEvent).revision)?.map((e) => e.type),
        ["updated", "draining", "down"],
      );
    });

    test("a heartbeat from an unknown node registers it again when it carries its registration", async () => {
      const s = await sub.open();
      assert.equal(
        (
          await s.heartbeat(
            "b",
            "tok",
            { load: LOAD, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
            undefined,
          )
        ).refused,
        "unknown",
      );
      const r = await s.heartbeat(
        "b",
        "tok",
        { load: { ...LOAD, cpu: 0.5 }, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
        rec("b"),
      );
      assert.equal(r.reregistered, true);
      assert.equal(s.view.get("b")?.load.cpu, 0.5);
    });

    test("leases end: a sweep expires nodes whose lease passed, and only those", async () => {
      const s = await sub.open();
      await s.register(rec("short", "rtc", 1000), "t");
      await s.register(rec("long", "rtc", 60_000), "t");
      await s.sweep(Date.now() + 1500);
      assert.equal(s.view.get("short"), undefined);
      assert.ok(s.view.get("long"));
      const last = s.view.since(s.view.revision - 1);
      assert.equal(last?.[0]?.type, "expired");
    });

    test("sessions: concurrent placements agree; a dead or draining host is replaced; release", async () => {
      const s = await sub.open();
      await s.register(rec("n1"), "t");
      await s.register(rec("n2"), "t");
      let turn = 0;
      const cands = ["n1", "n2"];
      const results = await Promise.all(
        Array.from({ length: 20 }, () => s.placeSession("rtc", "room", () => cands[turn++ % 2], 60_000)),
      );
      const nids = new Set(results.map((p) => p?.nid));
      assert.equal(nids.size, 1, "every caller got the same node");
      assert.equal(results.filter((p) => p?.placed).length, 1, "placed once");
      const host = results[0]?.nid as string;
      const other = host === "n1" ? "n2" : "n1";
      await s.heartbeat(
        host,
        "t",
        { load: LOAD, state: NodeState.NODE_STATE_DRAINING, expiresAt: Date.now() + 6000, leaseMs: 6000 },
        undefined,
      );
      const moved = await s.placeSession("rtc", "room", () => other, 60_000);
      assert.deepEqual(moved, { nid: other, placed: true });
      await s.deregister(other, "t");
      const again = await s.placeSession("rtc", "room", () => undefined, 60_000);
      assert.equal(again, undefined, "no host left and no candidate");
      assert.equal(await s.releaseSession("rtc", "room"), "released");
      assert.equal(await s.sessionNode("rtc", "room"), undefined);
      assert.equal(await s.releaseSession("rtc", "room"), "none");
    });

    test("release by the host: only the node the session is on, with its owner token", async () => {
      const s = await sub.open();
      await s.register(rec("h1"), "tok-1");
      await s.register(rec("h2"), "tok-2");
      assert.equal((await s.placeSession("rtc", "r", () => "h1", 60_000))?.nid, "h1");
      assert.equal(
        await s.releaseSession("rtc", "r", { nid: "h1", token: "tok-2" }),
        "refused",
        "the host's id, another's token",
      );
      assert.equal(await s.releaseSession("rtc", "r", { nid: "h2", token: "tok-2" }), "refused", "another node");
      assert.equal(await s.sessionNode("rtc", "r"), "h1");
      assert.equal(await s.releaseSession("rtc", "r", { nid: "h1", token: "tok-1" }), "released");
      assert.equal(await s.sessionNode("rtc", "r"), undefined);
      assert.equal(await s.releaseSession("rtc", "r", { nid: "h1", token: "tok-1" }), "none");
    });

    const twin = sub.twin;
    if (twin !== undefined)
      test("two fresh instances writing at once, each before it saw the other's change: both views hold every node", async () => {
        const a = await sub.open();
        const b = await twin();
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) writes.push((i % 2 === 0 ? a : b).register(rec(`c${i}`), "t"));
        await Promise.all(writes);
        assert.ok(await eventually(() => a.view.revision === b.view.revision), "both views reach the same revision");
        for (let i = 0; i < 20; i++) assert.ok(a.view.get(`c${i}`) && b.view.get(`c${i}`), `both views hold c${i}`);
      });

    if (twin !== undefined)
      test("a second instance on the same store sees every change, in order", async () => {
        const a = await sub.open();
        const b = await twin();
        await a.register(rec("x1"), "t");
        await a.register(rec("x2", "sig"), "t");
        await a.deregister("x1", "t");
        assert.ok(await eventually(() => b.view.revision === a.view.revision), "the twin caught up");
        assert.equal(b.view.get("x1"), undefined);
        assert.equal(b.view.get("x2")?.node.service, "sig");
        const p1 = await a.placeSession("sig", "s1", () => "x2", 60_000);
        const p2 = await b.placeSession("sig", "s1", () => "x2", 60_000);
        assert.deepEqual([p1?.placed, p2?.placed], [true, false]);
        // A late twin loads the current nodes from a snapshot.
        const c = await twin();
        assert.equal(c.view.get("x2")?.node.nid, "x2");
        assert.equal(c.view.size, 1);
        assert.equal(c.view.revision, a.view.revision);
      });
  });
}
