/**
 * Operators' marks on the three stores (memory, Redis, NATS KV): a cordon keeps a node's sessions and lease, gets it no new
 * session and survives its heartbeats (through two instances sharing Redis, never placed on
 * after the Cordon call returned); a drain moves its sessions, ends with the node told (its
 * sessions reached 0, or the deadline passed) and can be cancelled; marks are in Watch (who and
 * why), in `islb nodes` data and in metrics; explained picks say why each node was or was not taken.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import {
  ISLBDefinition,
  NodeMark_Kind,
  WatchEvent_Type,
  type NodeMark,
  type WatchEvent,
} from "../../generated/islb/islb.js";
import { createClient } from "../../src/transport/client.js";
import { ClientError, Status } from "../../src/status.js";
import type { Islb } from "../../src/app/islb.js";
import type { NodeAgent } from "../../src/agent/agent.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

const isStatus = (code: Status) => (e: unknown) => e instanceof ClientError && e.code === code;
const ADMIN = "adm-secret";

for (const storeKind of ["memory", "redis", "nats"] as const) {
  describe(`marks on the ${storeKind} store`, () => {
    let ns: NatsServerProcess;
    let rs: RedisServerProcess | undefined;
    const islbs: Islb[] = [];
    let nc: NatsConnection;
    const agents: Array<{ agent: NodeAgent; nc: NatsConnection }> = [];
    let service = 0;

    before(async () => {
      ns = await startNatsServer();
      if (storeKind === "redis") rs = await startRedisServer();
      const over = (nid: string) => ({
        nid,
        adminToken: ADMIN,
        redis: rs === undefined ? undefined : redisConfig(rs.url),
        ...(storeKind === "nats" ? { store: { kind: "nats" as const, bucket: "islb", replicas: 1 } } : {}),
      });
      islbs.push(await startIslb(ns.url, over("islb-a")));
      // Two instances share the Redis or NATS KV store; the memory store has one.
      if (storeKind !== "memory") islbs.push(await startIslb(ns.url, over("islb-b")));
      nc = await connect({ servers: ns.url });
    });
    after(async () => {
      for (const a of agents) {
        await a.agent.stop();
        await a.nc.close();
      }
      await nc.close();
      for (const i of islbs) await i.close();
      await rs?.stop();
      await ns.stop();
    });

    /** A client of one instance (the last one: the other one when there are two). */
    const client = (which = islbs.length - 1) => createClient(ISLBDefinition, nc, { nid: islbs[which]?.config.nid });
    const viewsAgree = (cond: (i: Islb) => boolean) => eventually(() => islbs.every(cond), 5000);

    /** Nodes `<svc>-1` … of a fresh service, with their sessions read from `loads`. */
    async function nodes(
      loads: number[],
      opts: { onDrained?: (m: NodeMark) => void; hard?: number } = {},
    ): Promise<{ svc: string; nids: string[]; loads: number[]; agents: NodeAgent[] }> {
      const svc = `svc${service++}`;
      const nids: string[] = [];
      const out: NodeAgent[] = [];
      for (let i = 0; i < loads.length; i++) {
        const nid = `${svc}-${i + 1}`;
        const a = await startAgent(
          ns.url,
          nid,
          {
            node: { nid, service: svc, dc: "dc1" },
            hardLimits:
              opts.hard === undefined
                ? undefined
                : { sessions: opts.hard, cpu: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
          },
          { load: () => ({ sessions: loads[i] }), onDrained: opts.onDrained, leaseMs: 1500 },
        );
        agents.push(a);
        out.push(a.agent);
        nids.push(nid);
      }
      // Registered and heartbeating with their loads (a registration alone reports none).
      assert.ok(await viewsAgree((i) => nids.every((n, k) => i.store.view.get(n)?.load.sessions === loads[k])));
      return { svc, nids, loads, agents: out };
    }

    async function watchUntil(svc: string, from: number, want: (e: WatchEvent) => boolean): Promise<WatchEvent> {
      const ac = new AbortController();
      try {
        for await (const e of client(0).watch(
          { service: svc, fromRevision: from },
          { signal: ac.signal, deadline: 5000 },
        ))
          if (want(e)) return e;
      } finally {
        ac.abort();
      }
      throw new Error("the watch ended");
    }

    test("cordon: authorized by the admin token or the owner's; keeps sessions and lease, gets no new session, survives heartbeats; uncordon lifts it", async () => {
      const { svc, nids } = await nodes([0, 5]);
      const [n1, n2] = nids as [string, string];
      assert.equal((await client().findNode({ service: svc, sid: "kept" })).nodes[0]?.nid, n1);
      const rev0 = islbs[0]!.store.view.revision;
      await assert.rejects(
        client().cordon({ nid: n1, reason: "r", by: "eve" }),
        isStatus(Status.PERMISSION_DENIED),
        "no credential",
      );
      await assert.rejects(
        client().cordon({ nid: n1, adminToken: "wrong" }),
        isStatus(Status.PERMISSION_DENIED),
        "a wrong admin token",
      );
      await assert.rejects(
        client().cordon({ nid: n1, token: "not-the-owner" }),
        isStatus(Status.PERMISSION_DENIED),
        "a wrong owner token",
      );
      await assert.rejects(client().cordon({ nid: "ghost", adminToken: ADMIN }), isStatus(Status.NOT_FOUND));
      await assert.rejects(client().cordon({ nid: "bad.nid", adminToken: ADMIN }), isStatus(Status.INVALID_ARGUMENT));
      assert.equal(islbs[0]!.store.view.get(n1)?.mark, undefined, "nothing changed");
      // Through one instance; new sessions through the other right after: none on n1.
      const r = await client(0).cordon({ nid: n1, adminToken: ADMIN, by: "alice", reason: "kernel upgrade" });
      assert.equal(r.node?.mark?.kind, NodeMark_Kind.KIND_CORDONED);
      assert.equal(r.node?.mark?.authorizedAs, "admin");
      // Redis checks the mark in the placement script, so the other instance honours it at once;
      // a NATS KV instance checks its view, which has it once its watch delivers it (docs/KV.md).
      if (storeKind === "nats") assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark !== undefined));
      for (let i = 0; i < 20; i++)
        assert.equal(
          (await client().findNode({ service: svc, sid: `new-${i}` })).nodes[0]?.nid,
          n2,
          `new session ${i}`,
        );
      assert.equal(
        (await client().findNode({ service: svc, sid: "kept" })).nodes[0]?.nid,
        n1,
        "a cordoned node keeps its sessions",
      );
      const ev = await watchUntil(svc, rev0, (e) => e.type === WatchEvent_Type.TYPE_CORDONED);
      assert.equal(ev.by, "alice");
      assert.equal(ev.reason, "kernel upgrade");
      assert.equal(ev.node?.mark?.kind, NodeMark_Kind.KIND_CORDONED);
      // Heartbeats (through any instance, from any view) keep it; the lease goes on.
      const beats = agents.find((a) => a.agent.nid === n1)!.agent.heartbeats;
      assert.ok(await eventually(() => agents.find((a) => a.agent.nid === n1)!.agent.heartbeats >= beats + 3, 5000));
      for (const i of islbs) {
        const rec = i.store.view.get(n1);
        assert.equal(rec?.mark?.kind, "cordoned", `${i.config.nid}'s view after heartbeats`);
        assert.ok(
          (rec?.expiresAt ?? 0) > Date.now(),
          `the lease is kept (${i.config.nid}: expires ${rec?.expiresAt} at ${Date.now()}, lease ${rec?.leaseMs})`,
        );
      }
      assert.equal(
        agents.find((a) => a.agent.nid === n1)!.agent.mark?.kind,
        NodeMark_Kind.KIND_CORDONED,
        "the node learns of it",
      );
      assert.equal((await client().findNode({ service: svc, sid: "after-beats" })).nodes[0]?.nid, n2);
      const text = await (await fetch(`${islbs[0]!.http?.url}/metrics`)).text();
      assert.match(text, new RegExp(`islb_nodes\\{service="${svc}",region="eu",state="cordoned"\\} 1`));
      // Owner token works too (the node cordoning itself), and uncordon lifts it.
      const u = await client(0).uncordon({ nid: n1, adminToken: ADMIN, by: "alice", reason: "done" });
      assert.equal(u.node?.mark, undefined);
      assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark === undefined));
      assert.equal(
        (await client().findNode({ service: svc, sid: "after-uncordon" })).nodes[0]?.nid,
        n1,
        "takes sessions again",
      );
      const back = await watchUntil(svc, rev0, (e) => e.type === WatchEvent_Type.TYPE_UNCORDONED);
      assert.equal(back.reason, "done");
    });

    test("drain with a deadline: sessions move, the node is told when its sessions reach 0; a drain is cancelled back to SERVING", async () => {
      const drained: NodeMark[] = [];
      const {
        svc,
        nids,
        loads,
        agents: [a1],
      } = await nodes([3, 5], { onDrained: (m) => drained.push(m) });
      const [n1, n2] = nids as [string, string];
      assert.equal((await client().findNode({ service: svc, sid: "room" })).nodes[0]?.nid, n1);
      const rev0 = islbs[0]!.store.view.revision;
      await a1!.drain({ deadline: 60_000, reason: "scale in" });
      assert.ok(a1!.draining);
      assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark?.kind === "draining"));
      assert.equal(islbs[0]!.store.view.get(n1)?.mark?.authorizedAs, "owner");
      assert.equal(
        (await client().findNode({ service: svc, sid: "room" })).nodes[0]?.nid,
        n2,
        "its session moves on the next lookup",
      );
      assert.equal((await client().findNode({ service: svc, sid: "fresh" })).nodes[0]?.nid, n2, "no new session");
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(drained.length, 0, "not drained while it reports sessions");
      loads[0] = 0;
      assert.ok(await eventually(() => drained.length === 1, 5000), "told once its sessions reached 0");
      assert.equal(drained[0]?.drainedReason, "sessions");
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(drained.length, 1, "told once");
      const ev = await watchUntil(svc, rev0, (e) => e.type === WatchEvent_Type.TYPE_DRAINED);
      assert.equal(ev.by, "islb");
      assert.match(ev.reason, /sessions reached 0/);
      assert.equal(ev.node?.registration?.node?.nid, n1);
      // Cancel: back to taking sessions (n1 is now the least loaded).
      await a1!.cancelDrain("changed my mind");
      assert.ok(!a1!.draining);
      assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark === undefined));
      assert.equal((await client().findNode({ service: svc, sid: "after-cancel" })).nodes[0]?.nid, n1);
    });

    test("an operator's drain ends at its deadline whatever the node hosts; the node's agent is told", async () => {
      const drained: NodeMark[] = [];
      const {
        svc,
        nids,
        agents: [a1],
      } = await nodes([4, 9], { onDrained: (m) => drained.push(m) });
      const n1 = nids[0] as string;
      const t0 = Date.now();
      const r = await client(0).drain({ nid: n1, deadlineMs: 1000, adminToken: ADMIN, by: "ops", reason: "rebalance" });
      assert.equal(r.node?.mark?.kind, NodeMark_Kind.KIND_DRAINING);
      assert.ok(Number(r.node?.mark?.deadlineMs) >= t0 + 1000);
      assert.ok(await eventually(() => a1!.draining, 3000), "the agent follows an operator's drain");
      assert.ok(await eventually(() => drained.length === 1, 6000), "drained at the deadline");
      assert.equal(drained[0]?.drainedReason, "deadline");
      assert.ok(Date.now() - t0 >= 1000, "not before the deadline");
      const text = await (await fetch(`${islbs[0]!.http?.url}/metrics`)).text();
      assert.match(text, new RegExp(`islb_nodes\\{service="${svc}",region="eu",state="drained"\\} 1`));
      // An operator cancels it: the agent sees the node back.
      await client().drain({ nid: n1, adminToken: ADMIN }); // a fresh drain replaces the drained one
      await client().uncordon({ nid: n1, adminToken: ADMIN, reason: "cancelled" });
      assert.ok(await eventually(() => a1!.mark === undefined && !a1!.draining, 3000));
      assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark === undefined));
    });

    test("explained picks: every candidate with its standing, the figure that decided it, tier, lease and pending; nothing extra when not asked", async () => {
      const { svc, nids } = await nodes([1, 5, 2], { hard: 5 });
      const [n1, n2, n3] = nids as [string, string, string];
      await client(0).cordon({ nid: n3, adminToken: ADMIN, by: "bob", reason: "disk" });
      assert.ok(await viewsAgree((i) => i.store.view.get(n3)?.mark !== undefined));
      const plain = await client().findNode({ service: svc, sid: "plain" });
      assert.equal(plain.explanation, undefined, "no explanation unless asked");
      const r = await client().findNode({ service: svc, sid: "why", region: "eu", explain: true });
      const e = r.explanation!;
      assert.equal(e.outcome, "placed");
      assert.equal(e.chosen, n1);
      assert.equal(r.nodes[0]?.nid, n1);
      assert.equal(e.tier, "home");
      assert.equal(e.measure, "sessions");
      assert.deepEqual(e.candidates.map((c) => c.nid).sort(), [...nids].sort(), "every node of the service");
      const by = new Map(e.candidates.map((c) => [c.nid, c]));
      assert.equal(by.get(n1)?.chosen, true);
      assert.equal(by.get(n1)?.standing, "under");
      assert.equal(by.get(n2)?.standing, "closed");
      assert.match(by.get(n2)?.reason ?? "", /hard limit: sessions 5 >= 5/);
      assert.equal(by.get(n3)?.standing, "closed");
      assert.match(by.get(n3)?.reason ?? "", /cordoned by bob: disk/);
      assert.equal(by.get(n3)?.mark?.kind, NodeMark_Kind.KIND_CORDONED);
      assert.ok(Number(by.get(n1)?.leaseLeftMs) > 0);
      assert.equal(by.get(n1)?.tier, "home");
      const again = await client().findNode({ service: svc, sid: "why", explain: true });
      assert.equal(again.explanation?.outcome, "known");
      assert.equal(again.explanation?.host, n1);
      // A pending placement shows (the instance that placed "why" counts it until n1's next heartbeat).
      const next = await client().findNode({ service: svc, sid: "why-2", explain: true });
      assert.ok((next.explanation?.candidates.find((c) => c.nid === n1)?.pending ?? 0) >= 0);
      // No node can take one: the explanation instead of RESOURCE_EXHAUSTED.
      await client(0).cordon({ nid: n1, adminToken: ADMIN });
      assert.ok(await viewsAgree((i) => i.store.view.get(n1)?.mark !== undefined));
      await assert.rejects(client().findNode({ service: svc, sid: "none" }), isStatus(Status.RESOURCE_EXHAUSTED));
      const none = await client().findNode({ service: svc, sid: "none", explain: true });
      assert.equal(none.explanation?.outcome, "none");
      assert.equal(none.nodes.length, 0);
      assert.ok(none.explanation?.candidates.every((c) => c.standing === "closed"));
    });
  });
}

test("explained two-choices picks name the two nodes drawn", async () => {
  const ns = await startNatsServer();
  const islb = await startIslb(ns.url, { nid: "islb-2c", twoChoices: true });
  const nc = await connect({ servers: ns.url });
  const started = [];
  try {
    for (const [nid, s] of [
      ["tc-1", 1],
      ["tc-2", 2],
      ["tc-3", 3],
    ] as const)
      started.push(
        await startAgent(ns.url, nid, { node: { nid, service: "tc", dc: "dc1" } }, { load: () => ({ sessions: s }) }),
      );
    // Their loads reported: distinct scores, so the lesser of two is one node.
    assert.ok(
      await eventually(() => [1, 2, 3].every((k) => islb.store.view.get(`tc-${k}`)?.load.sessions === k), 5000),
    );
    const r = await createClient(ISLBDefinition, nc).findNode({ service: "tc", sid: "x", explain: true });
    const e = r.explanation!;
    assert.equal(e.twoChoices, true);
    assert.equal(e.drawn.length, 2);
    const score = (nid: string) => e.candidates.find((c) => c.nid === nid)?.score ?? Infinity;
    // The lesser by score, ties broken by node id as the balancer breaks them (before their first
    // heartbeat with load, all three score 0).
    const best = [...e.drawn].sort((x, y) => score(x) - score(y) || (x < y ? -1 : x > y ? 1 : 0))[0];
    assert.equal(e.chosen, best, "the lesser of the two drawn");
  } finally {
    for (const a of started) {
      await a.agent.stop();
      await a.nc.close();
    }
    await nc.close();
    await islb.close();
    await ns.stop();
  }
});

test("a drain the agent asked for survives a wiped Redis: the agent sends it again when it registers again", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const islb = await startIslb(ns.url, { nid: "islb-w", redis: redisConfig(rs.url) });
  const { Redis } = await import("ioredis");
  const admin = new Redis(rs.url);
  const a = await startAgent(
    ns.url,
    "wipe-1",
    { node: { nid: "wipe-1", service: "wipe", dc: "dc1" } },
    { load: () => ({ sessions: 2 }), leaseMs: 1500 },
  );
  try {
    await a.agent.drain({ deadline: 600_000, reason: "scale in" });
    assert.equal(islb.store.view.get("wipe-1")?.mark?.kind, "draining");
    const deadline = Number(a.agent.mark?.deadlineMs);
    await admin.flushall();
    assert.ok(await eventually(() => a.agent.registrations >= 2, 5000), "registered again");
    assert.ok(
      await eventually(() => islb.store.view.get("wipe-1")?.mark?.kind === "draining", 5000),
      "the drain is back",
    );
    const again = Number(islb.store.view.get("wipe-1")?.mark?.deadline);
    assert.ok(Math.abs(again - deadline) < 2000, `the same deadline (${again} vs ${deadline})`);
  } finally {
    await a.agent.stop();
    await a.nc.close();
    admin.disconnect();
    await islb.close();
    await rs.stop();
    await ns.stop();
  }
});
