/**
 * Sessions that span nodes (FindNodeRequest.overflow), on the three stores (Redis and NATS KV:
 * two islb instances sharing the store): under a race of callers through both instances every
 * caller gets the same node set in the same order; the set grows when its join node is full
 * (the caller's full_nid, or a hard limit by its heartbeats), a dead member is replaced where it
 * stood, each change is a session event, and a release forgets the whole set.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import {
  ISLBDefinition,
  WatchEvent_Type,
  WatchEvents,
  type FindNodeReply,
  type WatchEvent,
} from "../../generated/islb/islb.js";
import { createClient } from "../../src/transport/client.js";
import type { Islb } from "../../src/app/islb.js";
import type { NodeAgent } from "../../src/agent/agent.js";
import type { SessionEvent } from "../../src/registry/types.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

const NODES = ["ov-a", "ov-b", "ov-c", "ov-d"];

for (const storeKind of ["memory", "redis", "redis-sharded", "nats"] as const) {
  describe(`session node sets on the ${storeKind} store`, () => {
    let ns: NatsServerProcess;
    let rs: RedisServerProcess | undefined;
    const islbs: Islb[] = [];
    let nc: NatsConnection;
    const agents = new Map<string, { agent: NodeAgent; nc: NatsConnection }>();
    const load = new Map<string, number>(NODES.map((n) => [n, 0]));
    const names = storeKind === "memory" ? ["islb-o"] : ["islb-o1", "islb-o2"];
    /** The session events the first instance's view received (from every instance). */
    const seen: SessionEvent[] = [];

    before(async () => {
      ns = await startNatsServer();
      if (storeKind.startsWith("redis")) rs = await startRedisServer();
      for (const nid of names)
        islbs.push(
          await startIslb(ns.url, {
            nid,
            adminToken: "adm",
            redis:
              rs === undefined ? undefined : { ...redisConfig(rs.url), shards: storeKind === "redis-sharded" ? 3 : 1 },
            ...(storeKind === "nats" ? { store: { kind: "nats" as const, bucket: "sets", replicas: 1 } } : {}),
          }),
        );
      islbs[0]!.store.view.sessions.subscribe((e) => seen.push(e));
      nc = await connect({ servers: ns.url });
      for (const nid of NODES)
        agents.set(
          nid,
          await startAgent(
            ns.url,
            nid,
            { node: { nid, service: "ov", dc: "dc1" }, hardLimits: { sessions: 10 } },
            { load: () => ({ sessions: load.get(nid) }), token: `tok-${nid}`, leaseMs: 1500 },
          ),
        );
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.countOf("ov") === NODES.length), 5000));
    });
    after(async () => {
      for (const a of agents.values()) {
        await a.agent.stop().catch(() => undefined);
        await a.nc.close();
      }
      await nc.close();
      for (const i of islbs) await i.close();
      await rs?.stop();
      await ns.stop();
    });

    const client = (i: number) => createClient(ISLBDefinition, nc, { nid: names[i % names.length] });
    const find = (i: number, fullNid = "", sid = "big"): Promise<FindNodeReply> =>
      client(i).findNode({ service: "ov", sid, overflow: true, fullNid });
    const events = (type: string) => seen.filter((e) => e.type === type);

    test("one set for every caller, grown when its join node is full, a dead member replaced, released whole", async () => {
      // A session watcher of the other instance.
      const ac = new AbortController();
      const watched: WatchEvent[] = [];
      void (async () => {
        try {
          for await (const e of client(1).watch(
            { service: "ov", events: WatchEvents.WATCH_EVENTS_SESSIONS },
            { signal: ac.signal },
          ))
            watched.push(e);
        } catch {
          /* ended */
        }
      })();
      assert.ok(await eventually(() => watched.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED)));
      const first = await find(0);
      const a = first.sessionNodes[0]!;
      assert.deepEqual(first.sessionNodes, [a], "a new session: a set of one node");
      assert.equal(first.nodes[0]?.nid, a);
      assert.equal(first.sessionRevision, 0);
      const plain = await client(1).findNode({ service: "ov", sid: "big" });
      assert.equal(plain.nodes[0]?.nid, a, "a lookup without overflow gets the first node, as before");
      assert.deepEqual(plain.sessionNodes, []);

      // 40 callers through both instances at once, each saying the join node is full.
      const race = await Promise.all(Array.from({ length: 40 }, (_, i) => find(i, a)));
      const sets = new Set(race.map((r) => `${r.sessionRevision} ${r.sessionNodes.join(",")}`));
      assert.equal(sets.size, 1, `every caller sees the same set in the same order: ${[...sets].join(" | ")}`);
      const grown = race[0]!;
      assert.equal(grown.sessionNodes.length, 2, "grown by one node, once");
      assert.equal(grown.sessionNodes[0], a);
      const b = grown.sessionNodes[1]!;
      assert.notEqual(b, a);
      assert.equal(grown.nodes[0]?.nid, b, "join the added node");
      assert.deepEqual(
        grown.nodes.map((n) => n.nid),
        [b, a],
      );
      assert.ok(await eventually(() => events("expanded").length === 1), "announced once");
      assert.deepEqual({ nid: events("expanded")[0]?.nid, from: events("expanded")[0]?.from }, { nid: b, from: a });
      assert.ok(
        await eventually(() => watched.some((e) => e.type === WatchEvent_Type.TYPE_SESSION_EXPANDED)),
        "SESSION_EXPANDED in Watch",
      );
      assert.deepEqual(watched.find((e) => e.type === WatchEvent_Type.TYPE_SESSION_EXPANDED)?.session, {
        sid: "big",
        service: "ov",
        nid: b,
        fromNid: a,
        reason: "join node full (caller)",
      });
      ac.abort();
      // The same answer through the other instance, without full_nid.
      assert.deepEqual((await find(1)).sessionNodes, [a, b]);

      // The join node reaches its hard limit (by its heartbeats): the next lookup adds a node.
      load.set(b, 10);
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.get(b)?.load.sessions === 10), 5000));
      const third = await find(1);
      assert.equal(third.sessionNodes.length, 3);
      const c = third.sessionNodes[2]!;
      assert.ok(![a, b].includes(c));
      assert.equal(third.nodes[0]?.nid, c);
      assert.deepEqual((await find(0)).sessionNodes, [a, b, c], "the same through the other instance");

      // A member dies: the next lookup replaces it where it stood.
      const d = NODES.find((n) => ![a, b, c].includes(n))!;
      const gone = agents.get(b)!;
      await gone.agent.stop();
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.get(b) === undefined), 5000));
      const replaced = await find(0);
      assert.deepEqual(replaced.sessionNodes, [a, d, c], "replaced in place");
      assert.ok(await eventually(() => events("moved").some((e) => e.from === b && e.nid === d)));
      assert.deepEqual((await find(1)).sessionNodes, [a, d, c]);

      // Released: every node of the set is free of it.
      await client(1).releaseSession({ sid: "big", service: "ov", adminToken: "adm" });
      const fresh = await find(0);
      assert.equal(fresh.sessionNodes.length, 1, "a released session starts again with one node");
      assert.equal(fresh.sessionRevision, 0);

      // Bad requests.
      await assert.rejects(client(0).findNode({ service: "ov", overflow: true }), /overflow needs a sid/);
      await assert.rejects(client(0).findNode({ service: "ov", sid: "x", overflow: true, maxNodes: 65 }), /max_nodes/);
    });
  });
}
