/**
 * The registry view keeps nodes as columns (NodeTable) and makes records when asked: these pin
 * that what it gives back equals what was applied (through heartbeats, marks, service moves,
 * leaving and slot reuse, past the bounded record cache), that the balancer sharing its slots
 * follows, that figures round-trip exactly through the columns' narrower types, and that the
 * memory store's lease buckets do not grow with renewals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/registry/memory.js";
import { Balancer } from "../../src/balancer/balancer.js";
import { NodeState, type Load, type NodeRecord } from "../../src/registry/types.js";
import { beaten, toNodeInfo, toRecord } from "../../src/registry/records.js";
import { NodeInfo } from "../../generated/islb/islb.js";

const rec = (nid: string, service: string, sessions: number, now: number, region = "r1"): NodeRecord =>
  toRecord(
    {
      node: { nid, service, dc: "dc1", rpc: { protocol: "nats", addr: "nats://x", params: new Map() } },
      state: NodeState.NODE_STATE_SERVING,
      region,
      load: { cpu: sessions / 100, sessions, tracks: 2 * sessions, bandwidthIn: 1000 * sessions, bandwidthOut: 7 },
      softLimits: { cpu: 0, sessions: 50, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      hardLimits: undefined,
    },
    60_000,
    now,
  );

const strip = (r: NodeRecord | undefined): unknown => (r === undefined ? undefined : { ...r, extra: [...r.extra] });

test("records made from the columns equal the ones applied, past the record cache, through leaving and slot reuse", async () => {
  const s = new MemoryStore({ history: 1 });
  const now = Date.now();
  const n = 3000; // more than the cache keeps
  const applied = new Map<string, NodeRecord>();
  for (let i = 0; i < n; i++) {
    const r = rec(`n${i}`, i % 3 === 0 ? "a" : "b", i % 40, now, `r${i % 5}`);
    await s.register(r, `t${i}`);
    applied.set(r.node.nid, r);
  }
  for (let i = 0; i < n; i += 7) {
    const load = { cpu: 0.5, sessions: i % 13, tracks: 1, bandwidthIn: 2, bandwidthOut: 3 };
    await s.heartbeat(
      `n${i}`,
      `t${i}`,
      { load, state: NodeState.NODE_STATE_DRAINING, expiresAt: now + 9000, leaseMs: 9000 },
      undefined,
    );
    const prev = applied.get(`n${i}`) as NodeRecord;
    applied.set(`n${i}`, { ...prev, load, state: NodeState.NODE_STATE_DRAINING, expiresAt: now + 9000, leaseMs: 9000 });
  }
  for (let i = 1; i < n; i += 5) {
    assert.equal((await s.deregister(`n${i}`, `t${i}`)).refused, undefined);
    applied.delete(`n${i}`);
  }
  // Slots freed above are reused; a node registered again under another service moves.
  for (let i = 1; i < 200; i += 5) {
    const r = rec(`m${i}`, "c", 3, now);
    await s.register(r, "tm");
    applied.set(r.node.nid, r);
  }
  const moved = rec("n3", "c", 1, now);
  await s.register(moved, "t3");
  applied.set("n3", moved);
  assert.equal(s.view.size, applied.size);
  for (const [nid, r] of applied) assert.deepEqual(strip(s.view.get(nid)), strip(r), nid);
  for (const service of ["a", "b", "c"]) {
    const want = [...applied.values()].filter((r) => r.node.service === service).map((r) => r.node.nid);
    const got = [...s.view.nodesOf(service)].map((r) => r.node.nid);
    assert.deepEqual(got.sort(), want.sort(), service);
    assert.equal(s.view.countOf(service), want.length);
  }
  assert.deepEqual([...s.view.nodesOf("*")].map((r) => r.node.nid).sort(), [...applied.keys()].sort());
  assert.equal(s.view.get("n1"), undefined);
  assert.equal(s.view.nodeOf("m1")?.service, "c");
  assert.deepEqual(s.view.serviceNames().sort(), ["a", "b", "c"]);
});

test("the balancer follows the view's slots: a node that left and one in its reused slot", async () => {
  const s = new MemoryStore({ history: 1 });
  const b = new Balancer(s.view);
  const now = Date.now();
  await s.register(rec("busy", "a", 40, now), "t");
  await s.register(rec("idle", "a", 1, now), "t");
  assert.equal(b.pick("a"), "idle");
  await s.deregister("idle", "t");
  assert.equal(b.pick("a"), "busy");
  await s.register(rec("new", "b", 0, now), "t"); // takes idle's slot, another service
  assert.equal(b.pick("a"), "busy");
  assert.equal(b.pick("b"), "new");
  await s.heartbeat(
    "busy",
    "t",
    {
      load: { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      state: undefined,
      expiresAt: now + 60_000,
      leaseMs: 60_000,
    },
    undefined,
  );
  await s.register(rec("other", "a", 10, now), "t");
  assert.equal(b.pick("a"), "busy");
  b.close();
});

test("renewing a lease again and again adds no bucket entries (the store's lease buckets stay bounded)", async () => {
  const s = new MemoryStore({ history: 1 });
  const now = Date.now();
  await s.register(rec("n", "a", 1, now), "t");
  const load = { cpu: 0, sessions: 1, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
  for (let i = 1; i <= 1000; i++)
    await s.heartbeat(
      "n",
      "t",
      { load, state: undefined, expiresAt: now + 60_000 + i * 10, leaseMs: 60_000 },
      undefined,
    );
  const buckets = (s as unknown as { leases: { buckets: Map<number, string[]> } }).leases.buckets;
  const entries = [...buckets.values()].reduce((k, keys) => k + keys.length, 0);
  assert.equal(entries, 1);
});

test("view.beaten makes what beaten(view.get(nid), ...) makes, marked or not", async () => {
  const s = new MemoryStore({ history: 1 });
  const now = Date.now();
  await s.register(rec("n", "a", 4, now), "t");
  await s.register(rec("m", "a", 4, now), "t");
  const note = { by: "op", reason: "test" };
  const mark = {
    kind: "cordoned" as const,
    by: "op",
    reason: "test",
    authorizedAs: "admin" as const,
    at: now,
    deadline: 0,
    drainedAt: 0,
    drainedReason: "" as const,
  };
  assert.equal((await s.markNode("m", { type: "cordoned", mark, note })).refused, undefined);
  const load = { cpu: 0.25, sessions: 9, tracks: 3, bandwidthIn: 5, bandwidthOut: 6 };
  for (const nid of ["n", "m"]) {
    const cur = s.view.get(nid) as NodeRecord;
    assert.deepEqual(
      strip(s.view.beaten(nid, load, undefined, now + 5, undefined)),
      strip(beaten(cur, load, cur.state, now + 5, cur.leaseMs)),
    );
    assert.deepEqual(
      strip(s.view.beaten(nid, load, NodeState.NODE_STATE_DRAINING, now + 5, 77)),
      strip(beaten(cur, load, NodeState.NODE_STATE_DRAINING, now + 5, 77)),
    );
  }
  assert.equal(s.view.get("m")?.mark?.kind, "cordoned");
  assert.equal(s.view.beaten("gone", load, undefined, now, undefined), undefined);
});

test("a view listener hearing of a new node sees its owner already (a heartbeat from the listener is not refused)", async () => {
  const s = new MemoryStore({ history: 1 });
  const now = Date.now();
  const results: Promise<{ refused?: string }>[] = [];
  s.view.subscribe((e) => {
    if (e.type === "up")
      results.push(
        s.heartbeat(
          e.record.node.nid,
          "tok",
          { load: e.record.load, state: undefined, expiresAt: now + 1000, leaseMs: 1000 },
          undefined,
        ),
      );
  });
  await s.register(rec("n", "a", 1, now), "tok");
  assert.equal(results.length, 1);
  assert.equal((await results[0])?.refused, undefined);
  assert.equal(s.view.get("n")?.leaseMs, 1000);
  assert.equal((await s.deregister("n", "tok")).refused, undefined);
});

test("figures round-trip exactly through the columns: uint32 counts to their top, leases of many days, bandwidth past 2^32, epoch ms, and counts or states no uint32 or byte holds", async () => {
  const s = new MemoryStore({ history: 1 });
  const registeredAt = 1_700_000_000_123;
  const days40 = 40 * 86_400_000; // 3,456,000,000 ms: past 2^31, below 2^32
  const cases: Array<[string, Load, number]> = [
    [
      "top",
      {
        cpu: 0.1 + 0.2,
        sessions: 0xfffffffe,
        tracks: 4_000_000_000,
        bandwidthIn: 2 ** 40 + 3,
        bandwidthOut: 2 ** 53 - 1,
      },
      days40,
    ],
    [
      "max",
      { cpu: 1e-300, sessions: 0xffffffff, tracks: 0xffffffff, bandwidthIn: 2 ** 32, bandwidthOut: 2 ** 32 + 1 },
      0xffffffff,
    ],
    ["odd", { cpu: -0, sessions: 1.5, tracks: -3, bandwidthIn: 0.25, bandwidthOut: -0 }, 2 ** 32 + 7],
    ["neg0", { cpu: 7, sessions: -0, tracks: Number.NaN, bandwidthIn: 0, bandwidthOut: 0 }, 1.25],
    ["plain", { cpu: 0.75, sessions: 12, tracks: 24, bandwidthIn: 1e9, bandwidthOut: 3e9 }, 6000],
  ];
  const applied = new Map<string, NodeRecord>();
  for (const [nid, load, leaseMs] of cases) {
    const r = { ...rec(nid, "a", 0, registeredAt), load, leaseMs, registeredAt, expiresAt: registeredAt + days40 + 1 };
    await s.register(r, "t");
    applied.set(nid, r);
  }
  // States no byte holds: UNRECOGNIZED (-1) and an unknown one from the wire.
  for (const [nid, state] of [
    ["unrec", NodeState.UNRECOGNIZED],
    ["wide", 300 as NodeState],
  ] as const) {
    const r = { ...rec(nid, "a", 1, registeredAt), state };
    await s.register(r, "t");
    applied.set(nid, r);
  }
  // Past the record cache, so the records below are made from the columns.
  for (let i = 0; i < 2100; i++) await s.register(rec(`f${i}`, "b", i % 7, Date.now()), "t");
  for (const [nid, r] of applied) {
    const got = s.view.get(nid) as NodeRecord;
    assert.notEqual(got, r, `${nid}: made from the columns`);
    assert.deepEqual(strip(got), strip(r), nid);
    assert.deepEqual(s.view.nodeOf(nid), r.node, nid);
  }
  // As the wire carries them: the same bytes.
  for (const nid of ["top", "max", "plain", "unrec", "wide"]) {
    const bytes = (r: NodeRecord): string => Buffer.from(NodeInfo.encode(toNodeInfo(r)).finish()).toString("hex");
    assert.equal(bytes(s.view.get(nid) as NodeRecord), bytes(applied.get(nid) as NodeRecord), nid);
  }
  // A slot that held counts kept beside the column, reused by a node with plain ones, and a heartbeat back to plain.
  await s.deregister("odd", "t");
  const reuse = rec("reuse", "a", 3, registeredAt);
  await s.register(reuse, "t");
  const plain = { cpu: 0, sessions: 2, tracks: 4, bandwidthIn: 0, bandwidthOut: 0 };
  await s.heartbeat("max", "t", { load: plain, state: undefined, expiresAt: registeredAt + 9, leaseMs: 9 }, undefined);
  await s.heartbeat(
    "unrec",
    "t",
    { load: plain, state: NodeState.NODE_STATE_SERVING, expiresAt: registeredAt + 9, leaseMs: 9 },
    undefined,
  );
  for (let i = 0; i < 2100; i++) await s.register(rec(`f${i}`, "b", (i + 1) % 7, Date.now()), "t");
  assert.deepEqual(strip(s.view.get("reuse")), strip(reuse));
  assert.deepEqual(s.view.get("max")?.load, plain);
  assert.equal(s.view.get("max")?.leaseMs, 9);
  assert.equal(s.view.get("unrec")?.state, NodeState.NODE_STATE_SERVING);
  assert.equal(s.view.get("wide")?.state, 300);
});
