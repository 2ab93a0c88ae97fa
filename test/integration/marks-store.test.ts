/**
 * The stores keep an operator's mark apart from what heartbeats write: on Redis and NATS KV,
 * through two instances, a heartbeat written from a view that has not seen the change yet
 * neither lifts a cordon nor brings back a lifted one, and placement itself refuses a cordoned
 * candidate. Marks are read back at start-up, and a node that leaves loses its mark (every store).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect as natsConnect, type NatsConnection } from "nats";
import { RedisStore } from "../../src/registry/redis.js";
import { NatsKvStore } from "../../src/registry/nats-kv.js";
import { MemoryStore } from "../../src/registry/memory.js";
import { NodeState, type NodeMark, type NodeRecord, type RegistryStore } from "../../src/registry/types.js";
import { toRecord } from "../../src/registry/records.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { eventually } from "../helpers/setup.js";

let rs: RedisServerProcess;
let ns: NatsServerProcess;
let n = 0;
const stores: RegistryStore[] = [];
const conns: NatsConnection[] = [];

before(async () => {
  rs = await startRedisServer();
  ns = await startNatsServer();
});
after(async () => {
  for (const s of stores) await s.close();
  for (const c of conns) await c.close();
  await rs.stop();
  await ns.stop();
});

type Kind = "redis" | "nats";
const KINDS: readonly Kind[] = ["redis", "nats"];
const NAME: Record<Kind, string> = { redis: "Redis", nats: "NATS KV" };

/** An instance of a shared store: the Redis prefix or KV bucket `name`. */
const connectTo = async (kind: Kind, name: string): Promise<RegistryStore> => {
  let s: RegistryStore;
  if (kind === "redis") s = await RedisStore.connect({ addrs: [], db: 0, url: rs.url, prefix: name });
  else {
    const nc = await natsConnect({ servers: ns.url });
    conns.push(nc);
    s = await NatsKvStore.connect(nc, { bucket: name.replace(/[^a-zA-Z0-9]/g, "_"), replicas: 1 });
  }
  stores.push(s);
  return s;
};

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

const cordon: NodeMark = {
  kind: "cordoned",
  by: "ops",
  reason: "r",
  authorizedAs: "admin",
  at: 1,
  deadline: 0,
  drainedAt: 0,
  drainedReason: "",
};
const beat = (s: RegistryStore, nid: string) =>
  s.heartbeat(
    nid,
    `tok-${nid}`,
    {
      load: { cpu: 0, sessions: 1, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      state: undefined,
      expiresAt: Date.now() + 60_000,
      leaseMs: 60_000,
    },
    undefined,
  );

for (const kind of KINDS)
  test(`${NAME[kind]}: heartbeats through another instance, from a view behind the change, keep a cordon and do not bring back a lifted one`, async () => {
    const prefix = `m${n++}:`;
    const a = await connectTo(kind, prefix);
    const b = await connectTo(kind, prefix);
    await a.register(rec("n1"), "tok-n1");
    await a.register(rec("n2"), "tok-n2");
    assert.ok(await eventually(() => b.view.get("n2") !== undefined));
    for (let round = 0; round < 5; round++) {
      assert.equal(
        (
          await a.markNode("n1", {
            type: "cordoned",
            mark: { ...cordon, at: round + 1 },
            note: { by: "ops", reason: "r" },
          })
        ).refused,
        undefined,
      );
      // At once, before b's tail can have brought the change: b writes n1's record from its view.
      await Promise.all([beat(b, "n1"), beat(b, "n1")]);
      assert.equal(
        (await b.placeSession("rtc", `s${round}`, () => "n1", 60_000))?.nid,
        undefined,
        "PLACE refuses a cordoned candidate, whatever b's view",
      );
      assert.ok(
        await eventually(
          () => a.view.get("n1")?.mark?.kind === "cordoned" && b.view.get("n1")?.mark?.kind === "cordoned",
        ),
        `round ${round}: both views cordoned`,
      );
      await beat(b, "n1");
      assert.equal(b.view.get("n1")?.mark?.kind, "cordoned", "a heartbeat keeps it");
      assert.equal(
        (await a.markNode("n1", { type: "uncordoned", mark: undefined, note: { by: "ops", reason: "" } })).refused,
        undefined,
      );
      await Promise.all([beat(b, "n1"), beat(b, "n1")]);
      assert.ok(
        await eventually(() => a.view.get("n1")?.mark === undefined && b.view.get("n1")?.mark === undefined),
        `round ${round}: both views uncordoned`,
      );
      assert.equal((await b.placeSession("rtc", `t${round}`, () => "n1", 60_000))?.nid, "n1");
    }
    // A third instance started now reads the marks with the nodes.
    await a.markNode("n2", { type: "cordoned", mark: cordon, note: { by: "ops", reason: "r" } });
    const c = await connectTo(kind, prefix);
    assert.equal(c.view.get("n2")?.mark?.kind, "cordoned");
    assert.equal(c.view.get("n1")?.mark, undefined);
  });

for (const kind of KINDS)
  test(`${NAME[kind]}: a drain has the host's sessions placed elsewhere; ifMarkedAt makes the drained change once; the owner token is checked`, async () => {
    const a = await connectTo(kind, `m${n++}:`);
    await a.register(rec("n1"), "tok-n1");
    await a.register(rec("n2"), "tok-n2");
    assert.equal((await a.placeSession("rtc", "room", () => "n1", 60_000))?.nid, "n1");
    const drain: NodeMark = { ...cordon, kind: "draining", at: 7 };
    assert.equal(
      (await a.markNode("n1", { type: "draining", mark: drain, note: { by: "n1", reason: "" }, token: "wrong" }))
        .refused,
      "token",
    );
    assert.equal(
      (await a.markNode("ghost", { type: "draining", mark: drain, note: { by: "n1", reason: "" } })).refused,
      "unknown",
    );
    assert.equal(
      (await a.markNode("n1", { type: "draining", mark: drain, note: { by: "n1", reason: "" }, token: "tok-n1" }))
        .refused,
      undefined,
    );
    assert.deepEqual(
      await a.placeSession("rtc", "room", () => "n2", 60_000),
      { nid: "n2", placed: true },
      "moved on the next lookup",
    );
    const done = { ...drain, drainedAt: 9, drainedReason: "sessions" as const };
    assert.equal(
      (await a.markNode("n1", { type: "drained", mark: done, note: { by: "islb", reason: "" }, ifMarkedAt: 7 }))
        .refused,
      undefined,
    );
    assert.equal(
      (await a.markNode("n1", { type: "drained", mark: done, note: { by: "islb", reason: "" }, ifMarkedAt: 7 }))
        .refused,
      "stale",
      "drained once",
    );
    assert.equal(
      (await a.markNode("n1", { type: "drained", mark: done, note: { by: "islb", reason: "" }, ifMarkedAt: 8 }))
        .refused,
      "stale",
    );
  });

test("every store: a node that leaves loses its mark, also for an instance started after it came back", async () => {
  const names = [`m${n++}:`, `m${n++}:`];
  for (const [i, s] of [
    new MemoryStore(),
    await connectTo("redis", names[0] as string),
    await connectTo("nats", names[1] as string),
  ].entries()) {
    await s.register(rec("n1"), "tok-n1");
    await s.markNode("n1", { type: "cordoned", mark: cordon, note: { by: "ops", reason: "" } });
    assert.equal(s.view.get("n1")?.mark?.kind, "cordoned");
    await beat(s, "n1");
    assert.equal(s.view.get("n1")?.mark?.kind, "cordoned", "kept by a heartbeat");
    await s.deregister("n1", "tok-n1");
    await s.register(rec("n1"), "tok-n1");
    assert.equal(s.view.get("n1")?.mark, undefined, "registered again: unmarked");
    assert.equal((await s.placeSession("rtc", "x", () => "n1", 60_000))?.nid, "n1");
    if (i > 0) {
      const late = await connectTo(i === 1 ? "redis" : "nats", names[i - 1] as string);
      assert.ok(late.view.get("n1") !== undefined);
      assert.equal(
        late.view.get("n1")?.mark,
        undefined,
        "a later instance does not bring the old registration's mark back",
      );
    }
  }
});

for (const kind of KINDS)
  test(`${NAME[kind]}: two instances marking one node at once: ifMarkedAt lets one through, and one instance reports it`, async () => {
    const prefix = `m${n++}:`;
    const a = await connectTo(kind, prefix);
    const b = await connectTo(kind, prefix);
    const reported: string[] = [];
    a.onLocalChange((e) => e.note !== undefined && reported.push(`a:${e.type}`));
    b.onLocalChange((e) => e.note !== undefined && reported.push(`b:${e.type}`));
    await a.register(rec("n1"), "tok-n1");
    assert.ok(await eventually(() => b.view.get("n1") !== undefined));
    for (let round = 0; round < 5; round++) {
      reported.length = 0;
      const at = a.view.get("n1")?.mark?.at ?? 0;
      const next = { ...cordon, at: 100 + round };
      const rs = await Promise.all(
        [a, b, a, b].map((s) =>
          s.markNode("n1", { type: "cordoned", mark: next, note: { by: "ops", reason: "" }, ifMarkedAt: at }),
        ),
      );
      assert.equal(rs.filter((r) => r.refused === undefined).length, 1, `round ${round}: one of four wins`);
      assert.ok(rs.every((r) => r.refused === undefined || r.refused === "stale"));
      assert.equal(reported.length, 1, `round ${round}: reported once`);
      assert.ok(
        await eventually(() => a.view.get("n1")?.mark?.at === next.at && b.view.get("n1")?.mark?.at === next.at),
      );
    }
  });
