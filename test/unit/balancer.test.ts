import { test } from "node:test";
import assert from "node:assert/strict";
import { Balancer } from "../../src/balancer/balancer.js";
import { SlotHeap } from "../../src/balancer/heap.js";
import { MemoryStore } from "../../src/registry/memory.js";
import { NodeState, type Limits, type Load } from "../../src/registry/types.js";
import { toRecord } from "../../src/registry/records.js";

const Z = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };

async function fleet(
  nodes: Array<{
    nid: string;
    region?: string;
    load?: Partial<Load>;
    soft?: Partial<Limits>;
    hard?: Partial<Limits>;
    state?: NodeState;
    service?: string;
  }>,
) {
  const store = new MemoryStore();
  for (const n of nodes) {
    await store.register(
      toRecord(
        {
          node: { nid: n.nid, service: n.service ?? "rtc", dc: "dc", rpc: undefined },
          state: n.state ?? NodeState.NODE_STATE_SERVING,
          region: n.region ?? "eu",
          load: { ...Z, ...n.load },
          softLimits: { ...Z, ...n.soft },
          hardLimits: { ...Z, ...n.hard },
        },
        6000,
        Date.now(),
      ),
      "t",
    );
  }
  return store;
}

test("the heap keeps order through pushes, updates and removals, ties by the caller's order", () => {
  const n = 200;
  const table = { pos: new Int32Array(n).fill(-1) };
  const keys = Array.from({ length: n }, (_, i) => (i * 7919) % 23);
  // Ties: the greater slot first, so the order is not just the slots' own; tie keys that order the same way, equal for four slots in a row (those go to the order itself).
  const h = new SlotHeap(table, (a, b) => a > b);
  for (let i = 0; i < n; i++) h.push(i, keys[i] as number, -Math.floor(i / 4));
  for (let i = 0; i < 50; i++) {
    keys[i] = 1000 - (keys[i] as number);
    h.update(i, keys[i] as number);
  }
  for (let i = 50; i < 80; i++) h.remove(i);
  assert.equal(h.has(60), false);
  assert.equal(table.pos[60], -1);
  assert.equal(h.has(10), true);
  assert.equal(h.keyOf(10), keys[10]);
  const out: Array<[number, number]> = [];
  while (h.size > 0) {
    const top = h.peek();
    out.push([h.keyAt(0), top]);
    h.remove(top);
  }
  assert.equal(h.peek(), -1);
  assert.equal(out.length, 170);
  assert.deepEqual(
    out,
    [...out].sort((a, b) => a[0] - b[0] || b[1] - a[1]),
  );
});

test("least loaded first, relative to each node's own limit", async () => {
  const s = await fleet([
    { nid: "big", load: { sessions: 300 }, soft: { sessions: 1000 } }, // 30 %
    { nid: "small", load: { sessions: 50 }, soft: { sessions: 100 } }, // 50 %
  ]);
  const b = new Balancer(s.view);
  assert.equal(b.pick("rtc"), "big");
  assert.equal(b.pick("nope"), undefined);
});

test("placements count until the next heartbeat, so a burst spreads", async () => {
  const s = await fleet([{ nid: "a" }, { nid: "b" }, { nid: "c" }]);
  const b = new Balancer(s.view);
  const picks: string[] = [];
  for (let i = 0; i < 9; i++) {
    const p = b.pick("rtc") as string;
    picks.push(p);
    b.notePlaced(p);
  }
  for (const n of ["a", "b", "c"]) assert.equal(picks.filter((p) => p === n).length, 3, picks.join());
  await s.heartbeat(
    "a",
    "t",
    { load: { ...Z, sessions: 0 }, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
    undefined,
  );
  assert.equal(b.pick("rtc"), "a", "its heartbeat reset its pending count");
});

test("the caller's region first; under soft limits before over; never past a hard limit or draining", async () => {
  const s = await fleet([
    { nid: "eu-over", region: "eu", load: { sessions: 10 }, soft: { sessions: 10 } },
    { nid: "us-under", region: "us", load: { sessions: 9 }, soft: { sessions: 10 } },
    { nid: "eu-hard", region: "eu", load: { sessions: 1 }, hard: { sessions: 1 } },
    { nid: "eu-drain", region: "eu", state: NodeState.NODE_STATE_DRAINING },
  ]);
  const b = new Balancer(s.view);
  assert.equal(b.pick("rtc", { region: "us" }), "us-under");
  assert.equal(
    b.pick("rtc", { region: "eu" }),
    "us-under",
    "an under-limit node elsewhere beats an over-limit one at home",
  );
  await s.deregister("us-under", "t");
  assert.equal(b.pick("rtc", { region: "eu" }), "eu-over", "over the soft limit: used when nothing is under");
  await s.heartbeat(
    "eu-over",
    "t",
    { load: Z, state: NodeState.NODE_STATE_DRAINING, expiresAt: Date.now() + 6000, leaseMs: 6000 },
    undefined,
  );
  assert.equal(b.pick("rtc", { region: "eu" }), undefined, "only a draining node and one at its hard limit remain");
  const ranked = b.ranked(s.view.nodesOf("rtc"), { region: "eu" }).map((r) => r.node.nid);
  assert.equal(ranked.length, 3, "a listing still shows them, the closed ones last");
});

test("two random choices keeps the lesser of the two", async () => {
  const s = await fleet([
    { nid: "n0", load: { sessions: 5 } },
    { nid: "n1", load: { sessions: 1 } },
    { nid: "n2", load: { sessions: 9 } },
  ]);
  // Without notePlaced loads stay put: the most loaded of three wins only when both draws hit
  // it (1/9), the least loaded whenever either draw does (5/9).
  const b = new Balancer(s.view, { twoChoices: true });
  const count = new Map<string, number>();
  for (let k = 0; k < 3000; k++) {
    const p = b.pick("rtc") as string;
    count.set(p, (count.get(p) ?? 0) + 1);
  }
  const share = (n: string) => (count.get(n) ?? 0) / 3000;
  assert.ok(share("n1") > 0.48 && share("n1") < 0.63, `least loaded ${share("n1")}`);
  assert.ok(share("n2") > 0.06 && share("n2") < 0.17, `most loaded ${share("n2")}`);
  // with one eligible node, it is always that one
  const one = await fleet([{ nid: "solo" }]);
  assert.equal(new Balancer(one.view, { twoChoices: true }).pick("rtc"), "solo");
});

test("sessions placed before the next report count at the node's own cost, so a burst does not pile onto the node that looks least loaded", async () => {
  // Nine nodes at half their CPU with ten sessions each (0.05 CPU a session), and one just
  // restarted (no session yet). At a fixed 0.01 CPU a session the empty node would look least
  // loaded for 50 placements; at the service's mean cost (0.05) for about 10.
  const nodes = Array.from({ length: 9 }, (_, i) => ({
    nid: `busy-${i}`,
    load: { cpu: 0.5, sessions: 10 },
    soft: { cpu: 0.7 },
    hard: { cpu: 0.9 },
  }));
  const s = await fleet([...nodes, { nid: "fresh", soft: { cpu: 0.7 }, hard: { cpu: 0.9 } }]);
  const b = new Balancer(s.view, { measure: "cpu" });
  const got = new Map<string, number>();
  for (let i = 0; i < 50; i++) {
    const nid = b.pick("rtc") as string;
    b.notePlaced(nid);
    got.set(nid, (got.get(nid) ?? 0) + 1);
  }
  const fresh = got.get("fresh") ?? 0;
  assert.ok(fresh >= 10 && fresh <= 14, `the empty node got ${fresh} of 50`);
  // A node's own figures count too: one that shows 0.1 CPU a session fills faster than one that shows 0.01.
  const s2 = await fleet([
    { nid: "heavy", load: { cpu: 0.2, sessions: 2 }, soft: { cpu: 0.7 }, hard: { cpu: 0.9 } },
    { nid: "light", load: { cpu: 0.2, sessions: 20 }, soft: { cpu: 0.7 }, hard: { cpu: 0.9 } },
  ]);
  const b2 = new Balancer(s2.view, { measure: "cpu" });
  // Each node's estimate blends in its service's mean as of its own last report: a second
  // round of reports, once both have reported, settles them.
  for (const r of [...s2.view.nodesOf("rtc")]) await s2.register(r, "t");
  const got2 = new Map<string, number>();
  for (let i = 0; i < 20; i++) {
    const nid = b2.pick("rtc") as string;
    b2.notePlaced(nid);
    got2.set(nid, (got2.get(nid) ?? 0) + 1);
  }
  assert.ok(
    (got2.get("light") ?? 0) > (got2.get("heavy") ?? 0),
    `light ${got2.get("light")}, heavy ${got2.get("heavy")}`,
  );
});

test("marks: a cordoned or draining node is closed and never picked; excluded nodes are skipped in the same order; explained standings name the deciding figure", async () => {
  const store = await fleet([
    { nid: "a", load: { sessions: 1 } },
    { nid: "b", load: { sessions: 2 }, soft: { sessions: 2 } },
    { nid: "c", load: { sessions: 3 }, hard: { sessions: 3 } },
    { nid: "d", load: { sessions: 4 }, region: "us" },
  ]);
  const b = new Balancer(store.view);
  const mark = {
    by: "ops",
    reason: "disk",
    authorizedAs: "admin" as const,
    at: 1,
    deadline: 0,
    drainedAt: 0,
    drainedReason: "" as const,
  };
  assert.equal(b.pick("rtc", { region: "eu" }), "a");
  await store.markNode("a", {
    type: "cordoned",
    mark: { ...mark, kind: "cordoned" },
    note: { by: "ops", reason: "disk" },
  });
  // b is over its soft limit, c at its hard limit: d (another region, under) before b.
  assert.equal(b.pick("rtc", { region: "eu" }), "d");
  assert.equal(b.pick("rtc", { region: "eu" }, new Set(["d"])), "b", "excluded: the next by the same order");
  assert.equal(b.pick("rtc", { region: "eu" }, new Set(["d", "b"])), undefined);
  const trace = { drawn: [] as string[], tier: "" };
  assert.equal(b.pick("rtc", { region: "eu" }, undefined, trace), "d");
  assert.equal(trace.tier, "other");
  const why = new Map(b.candidates(store.view.nodesOf("rtc"), { region: "eu" }).map((c) => [c.record.node.nid, c]));
  assert.equal(why.get("a")?.standing, "closed");
  assert.equal(why.get("a")?.reason, "cordoned by ops: disk");
  assert.equal(why.get("b")?.standing, "over");
  assert.equal(why.get("b")?.reason, "soft limit: sessions 2 >= 2");
  assert.equal(why.get("c")?.reason, "hard limit: sessions 3 >= 3");
  assert.equal(why.get("d")?.reason, "under its limits");
  assert.equal(why.get("d")?.tier, "other");
  assert.equal(why.get("a")?.tier, "home");
  await store.markNode("d", { type: "draining", mark: { ...mark, kind: "draining" }, note: { by: "ops", reason: "" } });
  assert.equal(b.pick("rtc", { region: "eu" }), "b", "draining: closed too");
  await store.markNode("a", { type: "uncordoned", mark: undefined, note: { by: "ops", reason: "" } });
  assert.equal(b.pick("rtc", { region: "eu" }), "a", "uncordoned: back");
  b.close();
});

test("ties go to the lesser node id, whatever the ids share and in whatever order they come", async () => {
  // Ids that share a long prefix, then one that shortens it (the tie keys are computed anew), non-ASCII and of different lengths.
  const nids = [
    "node-eu-10",
    "node-eu-9",
    "node-eu-100",
    "node-eu-1",
    "node-eué",
    "node-eu-",
    "nod",
    "x",
    "node-eu-1\u0000",
  ];
  const s = await fleet(nids.map((nid) => ({ nid })));
  const b = new Balancer(s.view);
  const picked: string[] = [];
  for (let i = 0; i < nids.length; i++) {
    const nid = b.pick("rtc") as string;
    picked.push(nid);
    b.notePlaced(nid);
  }
  assert.deepEqual(picked, [...nids].sort());
  // All at one pending placement each: the same order again.
  const again: string[] = [];
  for (let i = 0; i < nids.length; i++) {
    const nid = b.pick("rtc") as string;
    again.push(nid);
    b.notePlaced(nid);
  }
  assert.deepEqual(again, [...nids].sort());
});
