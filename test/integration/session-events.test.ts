/**
 * Session events in Watch, on the three stores (Redis and NATS KV: watched through one instance, moved through
 * the other): a session whose host drains or dies is re-placed on its next lookup and the move
 * is announced with from/to and the reason; a release is announced; watchers ask for node
 * events, session events or both, and resume from a revision.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { ISLBDefinition, WatchEvent_Type, WatchEvents, type WatchEvent } from "../../generated/islb/islb.js";
import { createClient } from "../../src/transport/client.js";
import type { Islb } from "../../src/app/islb.js";
import type { NodeAgent } from "../../src/agent/agent.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

for (const storeKind of ["memory", "redis", "nats"] as const) {
  describe(`session events on the ${storeKind} store`, () => {
    let ns: NatsServerProcess;
    let rs: RedisServerProcess | undefined;
    const islbs: Islb[] = [];
    let nc: NatsConnection;
    const agents: Array<{ agent: NodeAgent; nc: NatsConnection }> = [];

    before(async () => {
      ns = await startNatsServer();
      if (storeKind === "redis") rs = await startRedisServer();
      const over = (nid: string) => ({
        nid,
        adminToken: "adm",
        redis: rs === undefined ? undefined : redisConfig(rs.url),
        ...(storeKind === "nats" ? { store: { kind: "nats" as const, bucket: "islb", replicas: 1 } } : {}),
      });
      islbs.push(await startIslb(ns.url, over("islb-a")));
      if (storeKind !== "memory") islbs.push(await startIslb(ns.url, over("islb-b")));
      nc = await connect({ servers: ns.url });
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

    const watcher = () => createClient(ISLBDefinition, nc, { nid: islbs[0]?.config.nid });
    const caller = () => createClient(ISLBDefinition, nc, { nid: islbs[islbs.length - 1]?.config.nid });

    /** Reads Watch in the background; `got` holds what came. */
    function watch(events: WatchEvents, from = 0): { got: WatchEvent[]; stop: () => void } {
      const ac = new AbortController();
      const got: WatchEvent[] = [];
      void (async () => {
        try {
          for await (const e of watcher().watch({ service: "ev", fromRevision: from, events }, { signal: ac.signal }))
            got.push(e);
        } catch {
          /* ended */
        }
      })();
      return { got, stop: () => ac.abort() };
    }

    test("moves (host draining, host gone) and releases are announced with from/to and reason, in revision order, and resumed", async () => {
      const loads = [1, 2, 3];
      for (let i = 0; i < 3; i++) {
        const nid = `ev-${i + 1}`;
        agents.push(
          await startAgent(
            ns.url,
            nid,
            { node: { nid, service: "ev", dc: "dc1" } },
            { load: () => ({ sessions: loads[i] }), token: `tok-${nid}`, leaseMs: 1500 },
          ),
        );
      }
      assert.ok(
        await eventually(
          () => islbs.every((i) => [1, 2, 3].every((k) => i.store.view.get(`ev-${k}`)?.load.sessions === loads[k - 1])),
          5000,
        ),
      );
      const all = watch(WatchEvents.WATCH_EVENTS_ALL);
      const sessionsOnly = watch(WatchEvents.WATCH_EVENTS_SESSIONS);
      const nodesOnly = watch(WatchEvents.WATCH_EVENTS_UNSPECIFIED);
      assert.ok(
        await eventually(() =>
          [all, sessionsOnly, nodesOnly].every((w) => w.got.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED)),
        ),
      );
      const rev0 = all.got.find((e) => e.type === WatchEvent_Type.TYPE_SYNCED)!.revision;
      assert.ok(
        !sessionsOnly.got.some((e) => e.type === WatchEvent_Type.TYPE_EXISTING),
        "a session watcher gets no node snapshot",
      );
      assert.equal((await caller().findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "ev-1");
      // The host drains: the next lookup (through the other instance) moves it, announced.
      await caller().drain({ nid: "ev-1", adminToken: "adm" });
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.get("ev-1")?.mark !== undefined)));
      assert.equal((await caller().findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "ev-2");
      const moved = () => all.got.filter((e) => e.type === WatchEvent_Type.TYPE_SESSION_MOVED);
      assert.ok(await eventually(() => moved().length === 1), "announced to a watcher of another instance");
      assert.deepEqual(moved()[0]?.session, {
        sid: "room",
        service: "ev",
        nid: "ev-2",
        fromNid: "ev-1",
        reason: "host draining (operator)",
      });
      // The new host dies (deregisters): the next lookup moves it again.
      await agents[1]!.agent.stop();
      assert.ok(await eventually(() => islbs.every((i) => i.store.view.get("ev-2") === undefined)));
      assert.equal((await caller().findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "ev-3");
      assert.ok(await eventually(() => moved().length === 2));
      assert.deepEqual(moved()[1]?.session, {
        sid: "room",
        service: "ev",
        nid: "ev-3",
        fromNid: "ev-2",
        reason: "host gone",
      });
      // A known session is not announced again.
      assert.equal((await caller().findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "ev-3");
      // Released by its host.
      await caller().releaseSession({ sid: "room", service: "ev", nid: "ev-3", token: "tok-ev-3" });
      assert.ok(await eventually(() => all.got.some((e) => e.type === WatchEvent_Type.TYPE_SESSION_RELEASED)));
      const rel = all.got.find((e) => e.type === WatchEvent_Type.TYPE_SESSION_RELEASED)!;
      assert.deepEqual(rel.session, {
        sid: "room",
        service: "ev",
        nid: "",
        fromNid: "ev-3",
        reason: "released by host",
      });
      // Revisions only grow, across node and session events.
      const revs = all.got
        .filter((e) => e.type !== WatchEvent_Type.TYPE_EXISTING && e.type !== WatchEvent_Type.TYPE_SYNCED)
        .map((e) => e.revision);
      assert.deepEqual(
        revs,
        [...revs].sort((a, b) => a - b),
      );
      assert.ok(await eventually(() => sessionsOnly.got.filter((e) => e.session !== undefined).length === 3));
      assert.ok(
        sessionsOnly.got.every((e) => e.node === undefined),
        "a session watcher gets no node event",
      );
      assert.ok(
        !nodesOnly.got.some((e) => e.session !== undefined),
        "a node watcher (as before) gets no session event",
      );
      // Resume from before the moves: the same session events again, in order.
      const resumed = watch(WatchEvents.WATCH_EVENTS_SESSIONS, rev0);
      assert.ok(await eventually(() => resumed.got.filter((e) => e.session !== undefined).length === 3));
      assert.deepEqual(
        resumed.got.filter((e) => e.session !== undefined).map((e) => e.revision),
        sessionsOnly.got.filter((e) => e.session !== undefined).map((e) => e.revision),
      );
      for (const w of [all, sessionsOnly, nodesOnly, resumed]) w.stop();
      const text = await (await fetch(`${islbs[0]!.http?.url}/metrics`)).text();
      assert.match(text, /islb_session_changes_total\{service="ev",type="moved"\} 2/);
      assert.match(text, /islb_session_changes_total\{service="ev",type="released"\} 1/);
    });
  });
}
