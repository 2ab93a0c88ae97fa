/** Restarts and races: NATS down, registry restarted, Redis wiped, two islb instances placing at once. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "nats";
import { Redis } from "ioredis";
import { createClient } from "../../src/index.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";

test("a NATS restart (down ~2 s) loses no registration", async () => {
  const ns = await startNatsServer();
  const islb = await startIslb(ns.url, { nid: "islb-n", leaseMs: 3000 });
  const a = await startAgent(ns.url, "sfu-n", {}, { leaseMs: 3000 });
  try {
    await ns.kill();
    await new Promise((r) => setTimeout(r, 2000));
    await ns.restart();
    const nc = await connect({ servers: ns.url });
    const client = createClient(ISLBDefinition, nc);
    assert.ok(await eventually(() => a.agent.heartbeats > 0, 3000));
    const before = a.agent.heartbeats;
    assert.ok(await eventually(() => a.agent.heartbeats > before, 4000), "heartbeats flow again");
    assert.equal((await client.findNode({ nid: "sfu-n" })).nodes.length, 1, "the node is still registered");
    await nc.close();
  } finally {
    await a.agent.stop();
    await a.nc.close();
    await islb.close();
    await ns.stop();
  }
});

test("a registry restart is healed by the next heartbeats", async () => {
  const ns = await startNatsServer();
  let islb = await startIslb(ns.url, { nid: "islb-r", leaseMs: 1500 });
  const a = await startAgent(ns.url, "sfu-r");
  const nc = await connect({ servers: ns.url });
  const client = createClient(ISLBDefinition, nc);
  try {
    await islb.close();
    islb = await startIslb(ns.url, { nid: "islb-r", leaseMs: 1500 });
    assert.equal((await client.findNode({ nid: "sfu-r" })).nodes.length, 0, "the new registry starts empty");
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      found = (await client.findNode({ nid: "sfu-r" })).nodes.length === 1;
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(found, "re-registered by a heartbeat within a heartbeat interval");
    assert.equal(a.agent.registrations, 2);
  } finally {
    await a.agent.stop();
    await a.nc.close();
    await nc.close();
    await islb.close();
    await ns.stop();
  }
});

test("Redis: a wiped store is healed by heartbeats, and both islb instances see it", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const i1 = await startIslb(ns.url, { nid: "islb-w1", redis: redisConfig(rs.url) });
  const i2 = await startIslb(ns.url, { nid: "islb-w2", redis: redisConfig(rs.url) });
  const a = await startAgent(ns.url, "sfu-w");
  const nc = await connect({ servers: ns.url });
  const client = createClient(ISLBDefinition, nc);
  const admin = new Redis(rs.url);
  try {
    assert.ok(
      await eventually(() => i1.store.view.get("sfu-w") !== undefined && i2.store.view.get("sfu-w") !== undefined),
    );
    await admin.flushall();
    const regs = a.agent.registrations;
    assert.ok(
      await eventually(() => a.agent.registrations > regs, 3000),
      "the agent was told it had been re-registered",
    );
    assert.ok(
      await eventually(
        () => i1.store.view.get("sfu-w") !== undefined && i2.store.view.get("sfu-w") !== undefined,
        3000,
      ),
    );
    for (const nid of ["islb-w1", "islb-w2"])
      assert.equal((await client.findNode({ nid: "sfu-w" }, { nid })).nodes.length, 1, nid);
    assert.equal(await admin.exists("islb:{islb}:node:sfu-w"), 1, "back in Redis");
  } finally {
    admin.disconnect();
    await a.agent.stop();
    await a.nc.close();
    await nc.close();
    await i1.close();
    await i2.close();
    await rs.stop();
    await ns.stop();
  }
});

test("affinity race: two islb instances on one Redis, 200 concurrent callers, 1,000 new sessions: one node each, the same for every caller", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const i1 = await startIslb(ns.url, { nid: "islb-a1", redis: redisConfig(rs.url), twoChoices: true });
  const i2 = await startIslb(ns.url, { nid: "islb-a2", redis: redisConfig(rs.url), twoChoices: true });
  const agents = await Promise.all(
    Array.from({ length: 8 }, (_, i) => startAgent(ns.url, `sfu-${i}`, {}, { leaseMs: 10_000 })),
  );
  const nc = await connect({ servers: ns.url });
  const c1 = createClient(ISLBDefinition, nc, { nid: "islb-a1" });
  const c2 = createClient(ISLBDefinition, nc, { nid: "islb-a2" });
  try {
    assert.ok(
      await eventually(() => i1.store.view.size === 8 && i2.store.view.size === 8, 10_000),
      `views hold ${i1.store.view.size} and ${i2.store.view.size} nodes`,
    );
    const answers = new Map<string, Set<string>>();
    let next = 0;
    const SESSIONS = 1000;
    const CALLS = 4000; // every session asked four times, through both instances, all at once
    const caller = async (k: number): Promise<void> => {
      for (;;) {
        const n = next++;
        if (n >= CALLS) return;
        const sid = `room-${n % SESSIONS}`;
        const client = (n + k) % 2 === 0 ? c1 : c2;
        const r = await client.findNode({ service: "rtc", sid });
        const nid = r.nodes[0]?.nid as string;
        let set = answers.get(sid);
        if (set === undefined) answers.set(sid, (set = new Set()));
        set.add(nid);
      }
    };
    await Promise.all(Array.from({ length: 200 }, (_, k) => caller(k)));
    assert.equal(answers.size, SESSIONS);
    const split = [...answers].filter(([, s]) => s.size !== 1);
    assert.deepEqual(split, [], "every session has exactly one node, for every caller");
    const admin = new Redis(rs.url);
    for (const [sid, s] of [...answers].slice(0, 50))
      assert.equal(await admin.get(`islb:{islb}:s:rtc.${sid}`), [...s][0]);
    admin.disconnect();
    const perNode = new Map<string, number>();
    for (const s of answers.values()) for (const nid of s) perNode.set(nid, (perNode.get(nid) ?? 0) + 1);
    assert.ok(perNode.size >= 4, `sessions spread over ${perNode.size} nodes`);
  } finally {
    for (const a of agents) {
      await a.agent.stop();
      await a.nc.close();
    }
    await nc.close();
    await i1.close();
    await i2.close();
    await rs.stop();
    await ns.stop();
  }
});
