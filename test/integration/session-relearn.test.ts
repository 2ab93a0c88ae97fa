/**
 * Placements that survive a wiped store, on the three stores: agents report the sessions their
 * nodes host (the `sessions` callback) with their heartbeats; after an islb restart (memory),
 * a FLUSHALL (Redis, two instances) or a wiped KV bucket (NATS KV, two instances) the next
 * heartbeats re-learn every placement, so the next lookups of every live room, through every
 * instance, return its original node (0 rooms split). A session reported by a second node is a
 * conflict: the placement recorded wins, the reporter is told, and the conflict is counted.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { Redis } from "ioredis";
import { ISLBDefinition, type SessionConflict } from "../../generated/islb/islb.js";
import { createClient } from "../../src/transport/client.js";
import type { Islb } from "../../src/app/islb.js";
import type { Config } from "../../src/app/config.js";
import type { NodeAgent } from "../../src/agent/agent.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

const NODES = 3;
const ROOMS = 30;

/** Heartbeats instance `i` has answered (grpc_server_handled_total, every code). */
async function heartbeatsAnswered(i: Islb): Promise<number> {
  const m = i.metrics.registry.getSingleMetric("grpc_server_handled_total");
  let n = 0;
  for (const v of (await m?.get())?.values ?? []) if (v.labels.grpc_method === "Heartbeat") n += v.value;
  return n;
}

async function conflictsCounted(islbs: Islb[]): Promise<number> {
  let n = 0;
  for (const i of islbs) {
    const m = i.metrics.registry.getSingleMetric("islb_session_conflicts_total");
    for (const v of (await m?.get())?.values ?? []) n += v.value;
  }
  return n;
}

for (const storeKind of ["memory", "redis", "redis-sharded", "nats"] as const) {
  describe(`placements re-learnt from heartbeats on the ${storeKind} store`, () => {
    let ns: NatsServerProcess;
    let rs: RedisServerProcess | undefined;
    let islbs: Islb[] = [];
    let nc: NatsConnection;
    const agents: Array<{ agent: NodeAgent; nc: NatsConnection }> = [];
    /** What each node hosts, as its agent reports it. */
    const hosted = new Map<string, Set<string>>();
    const conflicts = new Map<string, SessionConflict[]>();

    const over = (nid: string): Partial<Config> => ({
      nid,
      leaseMs: 1500,
      redis: rs === undefined ? undefined : { ...redisConfig(rs.url), shards: storeKind === "redis-sharded" ? 3 : 1 },
      ...(storeKind === "nats" ? { store: { kind: "nats" as const, bucket: "relearn", replicas: 1 } } : {}),
    });
    const names = storeKind === "memory" ? ["islb-m"] : ["islb-x", "islb-y"];

    before(async () => {
      ns = await startNatsServer();
      if (storeKind.startsWith("redis")) rs = await startRedisServer();
      for (const n of names) islbs.push(await startIslb(ns.url, over(n)));
      nc = await connect({ servers: ns.url });
      for (let i = 0; i < NODES; i++) {
        const nid = `rl-${i}`;
        hosted.set(nid, new Set());
        agents.push(
          await startAgent(
            ns.url,
            nid,
            { node: { nid, service: "rl", dc: "dc1" } },
            {
              load: () => ({ sessions: hosted.get(nid)!.size }),
              sessions: () => hosted.get(nid)!,
              onSessionConflict: (c) => conflicts.set(nid, [...(conflicts.get(nid) ?? []), ...c]),
              token: `tok-${nid}`,
              leaseMs: 1500,
            },
          ),
        );
      }
      assert.ok(
        await eventually(() => islbs.every((i) => i.store.view.countOf("rl") === NODES), 5000),
        "every instance sees every node",
      );
    });
    after(async () => {
      for (const a of agents) {
        await a.agent.stop().catch(() => undefined);
        await a.nc.close();
      }
      await nc.close();
      for (const i of islbs) await i.close();
      await rs?.stop();
      await ns.stop();
    });

    const client = (i: number) => createClient(ISLBDefinition, nc, { nid: names[i % names.length] });

    test("after the store is lost, the next heartbeats re-learn every live room: 0 rooms split; a second reporter is a conflict", async () => {
      const original = new Map<string, string>();
      for (let r = 0; r < ROOMS; r++) {
        const sid = `room-${r}`;
        const nid = (await client(r).findNode({ service: "rl", sid })).nodes[0]?.nid;
        assert.ok(nid !== undefined, sid);
        original.set(sid, nid);
        hosted.get(nid)!.add(sid);
      }
      assert.ok(new Set(original.values()).size > 1, "the rooms are spread over several nodes");
      // Every report reached the registry (each agent heartbeats every 500 ms), and every instance
      // has answered reports: only an instance that has seen nodes report holds lookups after a
      // loss (src/islb/session-reports.ts). A long-running instance has; one that started a
      // second ago may not have (heartbeats go to any instance), and the test's few seconds
      // before the loss left one without a report about once in 40 runs.
      const beats = agents.map((a) => a.agent.heartbeats);
      const answered = await Promise.all(islbs.map(heartbeatsAnswered));
      assert.ok(await eventually(() => agents.every((a, i) => a.agent.heartbeats > beats[i]! + 1), 5000));
      for (const [k, i] of islbs.entries()) {
        let seen = false;
        for (let t = 0; t < 100 && !(seen = (await heartbeatsAnswered(i)) > answered[k]!); t++)
          await new Promise((r) => setTimeout(r, 50));
        assert.ok(seen, `${names[k]} answered a heartbeat`);
      }
      const regs = agents.map((a) => a.agent.registrations);
      const rev = Math.max(...islbs.map((i) => i.store.view.revision));

      // Lose every placement (and every node).
      if (storeKind === "memory") {
        await islbs[0]!.close();
        islbs = [await startIslb(ns.url, over(names[0]!))];
      } else if (storeKind.startsWith("redis")) {
        const admin = new Redis(rs!.url);
        await admin.flushall();
        admin.disconnect();
      } else {
        const jsm = await nc.jetstreamManager();
        await jsm.streams.delete("KV_relearn");
        await jsm.streams.delete("KV_relearn_sessions");
      }
      // Every room looked up as soon as one node is back and every instance has noticed the loss (an
      // instance's old view answers until it notices: docs/PROTOCOL.md), before the others have reported: held, not split.
      assert.ok(await eventually(() => agents.some((a, i) => a.agent.registrations > regs[i]!), 5000));
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.revision > rev), 5000), "the loss noticed");
      const early = await Promise.all(
        [...original].map(async ([sid], r) => {
          for (let t = 0; t < 100; t++) {
            try {
              return (await client(r).findNode({ service: "rl", sid })).nodes[0]?.nid;
            } catch {
              await new Promise((res) => setTimeout(res, 50)); // no node yet, or the store still disagrees
            }
          }
          return undefined;
        }),
      );
      const earlySplit = [...original].filter(([, nid], r) => early[r] !== nid);
      assert.deepEqual(earlySplit, [], "rooms looked up during the re-learning that went elsewhere");
      assert.ok(
        await eventually(() => agents.every((a, i) => a.agent.registrations > regs[i]!), 5000),
        "every node was registered again by its heartbeats",
      );
      // The full lists follow at once; wait until the store has every room again.
      const stored = async (): Promise<boolean> => {
        for (const i of islbs)
          for (const [sid, nid] of original) if ((await i.store.sessionNode("rl", sid)) !== nid) return false;
        return true;
      };
      let ok = false;
      for (let t = 0; t < 50 && !(ok = await stored()); t++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(ok, "the store holds every room on its original node again");
      assert.ok(
        await eventually(() => islbs.every((i) => i.store.view.countOf("rl") === NODES), 5000),
        "every instance sees every node again",
      );
      let split = 0;
      for (let k = 0; k < names.length; k++)
        for (const [sid, nid] of original) {
          const got = (await client(k).findNode({ service: "rl", sid })).nodes[0]?.nid;
          if (got !== nid) split++;
        }
      assert.equal(split, 0, "rooms split by the lost store");

      // A second node reports a room the first hosts: the placement recorded wins, the reporter is told.
      const [sid, host] = [...original][0]!;
      const other = [...hosted.keys()].find((n) => n !== host)!;
      const before = await conflictsCounted(islbs);
      hosted.get(other)!.add(sid);
      assert.ok(await eventually(() => (conflicts.get(other) ?? []).some((c) => c.sid === sid), 5000), "told");
      assert.deepEqual(conflicts.get(other)?.[0], { sid, nid: host });
      assert.ok((await conflictsCounted(islbs)) > before, "counted in islb_session_conflicts_total");
      assert.equal((await client(1).findNode({ service: "rl", sid })).nodes[0]?.nid, host, "still on its host");
      hosted.get(other)!.delete(sid);

      // A room the host reports gone is released: the next lookup places it anew.
      const [gone, gHost] = [...original][1]!;
      hosted.get(gHost)!.delete(gone);
      let released = false;
      for (let t = 0; t < 50 && !released; t++) {
        released = (await islbs[0]!.store.sessionNode("rl", gone)) === undefined;
        if (!released) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(released, "released when its host stops reporting it");
    });
  });
}
