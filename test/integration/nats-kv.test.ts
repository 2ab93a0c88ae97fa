/**
 * islb on the NATS KV store (JetStream on the test's own nats-server), as the Redis store is
 * tested: two islb instances racing for new sessions, one expiry per lapsed lease however many
 * instances sweep it, kill -9 expiry, watch resume, a registry restart, a wiped bucket healed
 * by heartbeats, and known sessions answered from memory.
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "nats";
import { createClient } from "../../src/index.js";
import { ISLBDefinition, WatchEvent_Type, type WatchEvent } from "../../generated/islb/islb.js";
import type { Config } from "../../src/app/config.js";
import { NatsKvStore } from "../../src/registry/nats-kv.js";
import type { RegistryEvent } from "../../src/registry/types.js";
import { nodeRecord } from "../helpers/records.js";
import { nodeKey, sessionKey } from "../../src/registry/nats-kv-bucket.js";
import { spawnServer, startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { StoreUnavailableError } from "../../src/registry/errors.js";
import { eventually } from "../helpers/setup.js";
import { startAgent, startIslb } from "../helpers/islb.js";

let ns: NatsServerProcess;
let nc: NatsConnection;
let n = 0;
const cleanup: Array<() => Promise<unknown>> = [];

before(async () => {
  ns = await startNatsServer();
  nc = await connect({ servers: ns.url });
});
// islb instances share one queue group: each test stops its own before the next starts.
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});
after(async () => {
  await nc.close();
  await ns.stop();
});

const kv = (bucket: string): Partial<Config> => ({ store: { kind: "nats", bucket, replicas: 1 } });

async function islb(nid: string, bucket: string, over: Partial<Config> = {}) {
  const i = await startIslb(ns.url, { nid, ...kv(bucket), ...over });
  cleanup.push(() => i.close());
  return i;
}

async function agent(nid: string, extra = {}, opts = {}) {
  const a = await startAgent(ns.url, nid, extra, opts);
  cleanup.push(async () => {
    await a.agent.stop();
    await a.nc.close();
  });
  return a.agent;
}

const rec = (nid: string, leaseMs = 60_000) => nodeRecord(nid, "rtc", leaseMs);

async function stores(bucket: string, count = 2): Promise<NatsKvStore[]> {
  const out: NatsKvStore[] = [];
  for (let i = 0; i < count; i++) {
    const c = await connect({ servers: ns.url });
    const s = await NatsKvStore.connect(c, { bucket, replicas: 1 });
    cleanup.push(async () => {
      await s.close();
      await c.close();
    });
    out.push(s);
  }
  return out;
}

test("two instances sweeping the same lapsed leases at once: each node expires once, reported by one instance", async () => {
  const [a, b] = (await stores(`exp${n++}`)) as [NatsKvStore, NatsKvStore];
  const expired: Array<[string, string]> = [];
  a.onLocalChange((e: RegistryEvent) => e.type === "expired" && expired.push(["a", e.record.node.nid]));
  b.onLocalChange((e: RegistryEvent) => e.type === "expired" && expired.push(["b", e.record.node.nid]));
  const NODES = 40;
  for (let i = 0; i < NODES; i++) await a.register(rec(`e${i}`, 1000), "t");
  assert.ok(await eventually(() => b.view.size === NODES), "the second instance sees every node");
  const later = Date.now() + 1500;
  await Promise.all([a.sweep(later), b.sweep(later), a.sweep(later), b.sweep(later)]);
  await eventually(() => a.view.size === 0 && b.view.size === 0);
  assert.equal(a.view.size + b.view.size, 0, "gone from both views");
  assert.equal(expired.length, NODES, `one expiry per node, not ${expired.length}`);
  assert.equal(new Set(expired.map(([, nid]) => nid)).size, NODES);
  assert.ok(await eventually(() => a.view.revision === b.view.revision));
  const history = a.view.since(a.view.revision - NODES) ?? [];
  assert.equal(
    history.filter((e) => e.type === "expired").length,
    NODES,
    "each expiry is one change in the feed, seen by both",
  );
  // A heartbeat that comes after its lease lapsed (and nobody swept it) ends it first: one expiry, then up again.
  await a.register(rec("late", 300), "t");
  await new Promise((r) => setTimeout(r, 400));
  const before = expired.length;
  const r = await b.heartbeat(
    "late",
    "t",
    { load: rec("late").load, state: undefined, expiresAt: Date.now() + 5000, leaseMs: 5000 },
    rec("late", 5000),
  );
  assert.equal(r.reregistered, true);
  assert.deepEqual(expired.slice(before), [["b", "late"]]);
});

test("affinity race: two islb instances on one KV bucket, 200 concurrent callers, 1,000 new sessions: one node each, the same for every caller", async () => {
  const bucket = `race${n++}`;
  await islb("islb-k1", bucket, { twoChoices: true });
  await islb("islb-k2", bucket, { twoChoices: true });
  for (let i = 0; i < 8; i++) await agent(`kv-sfu-${i}`, {}, { leaseMs: 10_000 });
  const c1 = createClient(ISLBDefinition, nc, { nid: "islb-k1" });
  const c2 = createClient(ISLBDefinition, nc, { nid: "islb-k2" });
  const answers = new Map<string, Set<string>>();
  let next = 0;
  const SESSIONS = 1000;
  const CALLS = 4000;
  const caller = async (k: number): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= CALLS) return;
      const sid = `room-${i % SESSIONS}`;
      const r = await ((i + k) % 2 === 0 ? c1 : c2).findNode({ service: "rtc", sid });
      let set = answers.get(sid);
      if (set === undefined) answers.set(sid, (set = new Set()));
      set.add(r.nodes[0]?.nid as string);
    }
  };
  await Promise.all(Array.from({ length: 200 }, (_, k) => caller(k)));
  assert.equal(answers.size, SESSIONS);
  assert.deepEqual(
    [...answers].filter(([, s]) => s.size !== 1),
    [],
    "every session has exactly one node, for every caller",
  );
  const sessions = await nc.jetstream().views.kv(`${bucket}_sessions`, { bindOnly: true });
  for (const [sid, s] of [...answers].slice(0, 50)) {
    const e = await sessions.get(sessionKey("rtc", sid));
    assert.equal(
      Buffer.from(e?.value ?? [])
        .toString()
        .split(" ")[1],
      [...s][0],
      `${sid} in the bucket`,
    );
  }
  const perNode = new Map<string, number>();
  for (const s of answers.values()) for (const nid of s) perNode.set(nid, (perNode.get(nid) ?? 0) + 1);
  assert.ok(perNode.size >= 4, `sessions spread over ${perNode.size} nodes`);
});

test("a node killed with kill -9 is gone from both instances within its lease + 1 s; Watch reports one expiry", async () => {
  const bucket = `kill${n++}`;
  await islb("islb-x1", bucket);
  await islb("islb-x2", bucket);
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("../helpers/child-agent.js", import.meta.url)), ns.url, "kv-victim", "1500"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  cleanup.push(async () => child.kill("SIGKILL"));
  await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
  const clients = ["islb-x1", "islb-x2"].map((nid) => createClient(ISLBDefinition, nc, { nid }));
  for (const c of clients) assert.ok((await c.findNode({ nid: "kv-victim" })).nodes.length === 1);
  const expiries: number[] = [];
  const acs = clients.map(() => new AbortController());
  const watching = clients.map(async (c, i) => {
    try {
      for await (const e of c.watch({ service: "rtc" }, { signal: acs[i]?.signal }))
        if (e.type === WatchEvent_Type.TYPE_EXPIRED && e.node?.registration?.node?.nid === "kv-victim")
          expiries.push(Date.now());
    } catch {
      /* aborted */
    }
  });
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  child.kill("SIGKILL");
  assert.ok(await eventually(() => expiries.length === 2, 4000), "both instances' watchers saw the expiry");
  for (const t of expiries) assert.ok(t - t0 <= 1500 + 1000, `expired after ${t - t0} ms`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(expiries.length, 2, "one expiry each, no second one");
  for (const c of clients) assert.equal((await c.findNode({ nid: "kv-victim" })).nodes.length, 0);
  for (const ac of acs) ac.abort();
  await Promise.all(watching);
});

test("watch through one instance, resume through the other: nothing missed or repeated", async () => {
  const bucket = `watch${n++}`;
  await islb("islb-w1", bucket);
  await islb("islb-w2", bucket);
  const c1 = createClient(ISLBDefinition, nc, { nid: "islb-w1" });
  const c2 = createClient(ISLBDefinition, nc, { nid: "islb-w2" });
  const events: WatchEvent[] = [];
  const ac = new AbortController();
  const done = (async () => {
    try {
      for await (const e of c1.watch({ service: "sig" }, { signal: ac.signal })) events.push(e);
    } catch {
      /* aborted */
    }
  })();
  await eventually(() => events.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED));
  const w1 = await agent("kv-sig-1", { node: { nid: "kv-sig-1", service: "sig" } });
  await eventually(() => events.some((e) => e.type === WatchEvent_Type.TYPE_UP));
  ac.abort();
  await done;
  const lastSeen = events[events.length - 1]?.revision as number;
  await agent("kv-sig-2", { node: { nid: "kv-sig-2", service: "sig" } });
  await w1.stop();
  const resumed: WatchEvent[] = [];
  const ac2 = new AbortController();
  const done2 = (async () => {
    try {
      for await (const e of c2.watch({ service: "sig", fromRevision: lastSeen }, { signal: ac2.signal }))
        if (e.type !== WatchEvent_Type.TYPE_SYNCED) resumed.push(e);
    } catch {
      /* aborted */
    }
  })();
  await eventually(() => resumed.some((e) => e.type === WatchEvent_Type.TYPE_DOWN), 3000);
  ac2.abort();
  await done2;
  const changes = resumed.filter((e) => e.type !== WatchEvent_Type.TYPE_UPDATED);
  assert.deepEqual(
    changes.map((e) => [e.type, e.node?.registration?.node?.nid]),
    [
      [WatchEvent_Type.TYPE_UP, "kv-sig-2"],
      [WatchEvent_Type.TYPE_DOWN, "kv-sig-1"],
    ],
  );
  const revs = resumed.map((e) => e.revision);
  assert.ok(
    revs.every((r, i) => r > lastSeen && (i === 0 || r > (revs[i - 1] as number))),
    "strictly after the resume point, in order, no repeats",
  );
});

test("a registry restart keeps every node (they live in the bucket), and revisions keep growing", async () => {
  const bucket = `restart${n++}`;
  let i1 = await startIslb(ns.url, { nid: "islb-r1", leaseMs: 1500, ...kv(bucket) });
  const a = await agent("kv-sfu-r");
  const client = createClient(ISLBDefinition, nc, { nid: "islb-r1" });
  assert.ok(await eventually(() => i1.store.view.get("kv-sfu-r") !== undefined));
  const rev = i1.store.view.revision;
  await i1.close();
  i1 = await startIslb(ns.url, { nid: "islb-r1", leaseMs: 1500, ...kv(bucket) });
  cleanup.push(() => i1.close());
  assert.equal((await client.findNode({ nid: "kv-sfu-r" })).nodes.length, 1, "known at once after the restart");
  assert.ok(i1.store.view.revision >= rev, "the view starts at the bucket's revision");
  const hb = a.heartbeats;
  assert.ok(await eventually(() => a.heartbeats > hb + 1, 3000));
  assert.ok(i1.store.view.revision > rev);
  assert.equal(a.registrations, 1, "no re-registration was needed");
});

test("a wiped store (both buckets deleted) is healed by heartbeats; both instances see it; revisions only grow", async () => {
  const bucket = `wipe${n++}`;
  const i1 = await islb("islb-p1", bucket);
  const i2 = await islb("islb-p2", bucket);
  const a = await agent("kv-sfu-w");
  assert.ok(
    await eventually(() => i1.store.view.get("kv-sfu-w") !== undefined && i2.store.view.get("kv-sfu-w") !== undefined),
  );
  const rev = Math.max(i1.store.view.revision, i2.store.view.revision);
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(`KV_${bucket}`);
  await jsm.streams.delete(`KV_${bucket}_sessions`);
  const regs = a.registrations;
  assert.ok(await eventually(() => a.registrations > regs, 5000), "the agent was told it had been re-registered");
  // An instance's old view still holds the node until it notices the wipe: wait for both to be past it (under load, a second or so).
  assert.ok(
    await eventually(() => i1.store.view.revision > rev && i2.store.view.revision > rev, 5000),
    "revisions above the wiped bucket's",
  );
  assert.ok(
    await eventually(
      () => i1.store.view.get("kv-sfu-w") !== undefined && i2.store.view.get("kv-sfu-w") !== undefined,
      3000,
    ),
    "both views hold it again",
  );
  for (const nid of ["islb-p1", "islb-p2"])
    assert.equal((await createClient(ISLBDefinition, nc, { nid }).findNode({ nid: "kv-sfu-w" })).nodes.length, 1, nid);
  const nodes = await nc.jetstream().views.kv(bucket, { bindOnly: true });
  assert.equal((await nodes.get(nodeKey("kv-sfu-w")))?.operation, "PUT", "back in the bucket");
  assert.ok(
    (await createClient(ISLBDefinition, nc, { nid: "islb-p2" }).findNode({ service: "rtc", sid: "after-wipe" })).nodes
      .length === 1,
    "sessions place again",
  );
});

test("known sessions are answered from memory (no KV read per lookup); a release through one instance reaches the other", async () => {
  const bucket = `known${n++}`;
  const [a, b] = (await stores(bucket)) as [NatsKvStore, NatsKvStore];
  for (const nid of ["n1", "n2"]) await a.register(rec(nid), `tok-${nid}`);
  assert.ok(await eventually(() => b.view.get("n1") !== undefined && b.view.get("n2") !== undefined));
  assert.deepEqual(await a.placeSession("rtc", "room", () => "n1", 60_000), { nid: "n1", placed: true });
  assert.deepEqual(
    await b.placeSession("rtc", "room", () => "n2", 60_000),
    { nid: "n1", placed: false },
    "read through the other instance",
  );
  // Every KV read of the sessions bucket is a request on this subject (direct gets are off).
  let reads = 0;
  const spy = nc.subscribe(`$JS.API.STREAM.MSG.GET.KV_${bucket}_sessions`, { callback: () => reads++ });
  await nc.flush();
  for (let i = 0; i < 200; i++)
    for (const s of [a, b]) assert.equal((await s.placeSession("rtc", "room", () => "n2", 60_000))?.nid, "n1");
  await nc.flush();
  assert.ok(reads <= 2, `${reads} KV reads for 400 known lookups`);
  assert.equal(await a.releaseSession("rtc", "room", { nid: "n1", token: "tok-n1" }), "released");
  assert.deepEqual(await a.placeSession("rtc", "room", () => "n2", 60_000), { nid: "n2", placed: true });
  let followed = false;
  for (const t0 = Date.now(); !followed && Date.now() - t0 < 1000;) {
    followed = (await b.placeSession("rtc", "room", () => "n1", 60_000))?.nid === "n2";
    if (!followed) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(followed, "the other instance follows");
  await nc.flush();
  assert.ok(reads > 2, "the other instance read the bucket again after the release");
  spy.unsubscribe();
});

test("a NATS without JetStream: the store does not open, and says why", async () => {
  const bare = await spawnServer(
    process.env.NATS_SERVER_BIN ?? "nats-server",
    0,
    () => ["-a", "127.0.0.1", "-p", "-1"],
    "islb-nojs-",
    { portFromOutput: /Listening for client connections on [^\s]*:(\d+)/ },
  );
  const c = await connect({ servers: `nats://127.0.0.1:${bare.port}` });
  try {
    await assert.rejects(
      NatsKvStore.connect(c, { bucket: "islb", replicas: 1 }),
      (e: unknown) =>
        e instanceof StoreUnavailableError &&
        /cannot open the NATS KV store \(bucket islb\): JetStream is not enabled/.test(e.message),
    );
  } finally {
    await c.close();
    await bare.stop();
  }
});
