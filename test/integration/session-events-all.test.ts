/**
 * Session events "all" (islb serve --session-events all): beside moves, Watch announces each
 * new placement (SESSION_PLACED, reason "new") and each placement that ended idle
 * (SESSION_EXPIRED, reason "idle", from_nid: the node it was on), in revision order and
 * resumable; a known session is not announced again; with the default ("moves") neither is
 * announced. On the three stores (Redis and NATS KV: watched through one instance, placed
 * through the other; Redis also on 3 shards).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { ISLBDefinition, WatchEvent_Type, WatchEvents, type WatchEvent } from "../../generated/islb/islb.js";
import { createClient } from "../../src/transport/client.js";
import type { Islb } from "../../src/app/islb.js";
import type { NodeAgent } from "../../src/agent/agent.js";
import type { SessionEventsMode } from "../../src/registry/model.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

const IDLE_MS = 1500;

const sessionTypes = (got: WatchEvent[], sid?: string): WatchEvent_Type[] =>
  got.filter((e) => e.session !== undefined && (sid === undefined || e.session.sid === sid)).map((e) => e.type);

for (const storeKind of ["memory", "redis", "redis-3-shards", "nats"] as const) {
  describe(`session events "all" on the ${storeKind} store`, () => {
    let ns: NatsServerProcess;
    let rs: RedisServerProcess | undefined;
    const islbs: Islb[] = [];
    let nc: NatsConnection;
    const agents: Array<{ agent: NodeAgent; nc: NatsConnection }> = [];

    before(async () => {
      ns = await startNatsServer();
      if (storeKind.startsWith("redis")) rs = await startRedisServer();
      const over = (nid: string, sessionEvents: SessionEventsMode, prefix: string) => ({
        nid,
        sessionIdleMs: IDLE_MS,
        sessionEvents,
        prefix,
        redis:
          rs === undefined
            ? undefined
            : { ...redisConfig(rs.url, `${prefix}:`), ...(storeKind === "redis-3-shards" ? { shards: 3 } : {}) },
        ...(storeKind === "nats" ? { store: { kind: "nats" as const, bucket: `b${prefix}`, replicas: 1 } } : {}),
      });
      // Two registries side by side: "all" (a and, on Redis, b) and the default "moves" (m).
      islbs.push(await startIslb(ns.url, over("islb-a", "all", "all")));
      if (storeKind !== "memory") islbs.push(await startIslb(ns.url, over("islb-b", "all", "all")));
      islbs.push(await startIslb(ns.url, over("islb-m", "moves", "mv")));
      nc = await connect({ servers: ns.url });
      for (const prefix of ["all", "mv"]) {
        const nid = `${prefix}-1`;
        agents.push(
          await startAgent(
            ns.url,
            nid,
            { node: { nid, service: "ev", dc: "dc1" } },
            { load: () => ({ sessions: 1 }), token: `tok-${nid}`, leaseMs: 3000, prefix },
          ),
        );
      }
      assert.ok(
        await eventually(
          () => islbs.every((i) => i.store.view.get(i.config.prefix === "all" ? "all-1" : "mv-1") !== undefined),
          5000,
        ),
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

    const client = (i: Islb) => createClient(ISLBDefinition, nc, { nid: i.config.nid, prefix: i.config.prefix });

    function watch(i: Islb, from = 0, service = "ev"): { got: WatchEvent[]; stop: () => void } {
      const ac = new AbortController();
      const got: WatchEvent[] = [];
      void (async () => {
        try {
          for await (const e of client(i).watch(
            { service, fromRevision: from, events: WatchEvents.WATCH_EVENTS_SESSIONS },
            { signal: ac.signal },
          ))
            got.push(e);
        } catch {
          /* ended */
        }
      })();
      return { got, stop: () => ac.abort() };
    }
    const synced = (w: { got: WatchEvent[] }) => w.got.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED);

    test("placed for a new session (not for a known one), expired after the idle time, in order, resumed", async () => {
      const a = islbs[0]!;
      const b = islbs[islbs.length - 2]!;
      const w = watch(a);
      assert.ok(await eventually(() => synced(w)));
      const rev0 = w.got.find((e) => e.type === WatchEvent_Type.TYPE_SYNCED)!.revision;
      assert.equal((await client(b).findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "all-1");
      assert.ok(await eventually(() => sessionTypes(w.got).length === 1), "placed, seen through the other instance");
      const placed = w.got.find((e) => e.session !== undefined)!;
      assert.equal(placed.type, WatchEvent_Type.TYPE_SESSION_PLACED);
      assert.deepEqual(placed.session, { sid: "room", service: "ev", nid: "all-1", fromNid: "", reason: "new" });
      // A known session: no event.
      assert.equal((await client(a).findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "all-1");
      assert.equal((await client(b).findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "all-1");
      // Nobody looks it up for its idle time: expired, with the node it was on.
      assert.ok(
        await eventually(() => sessionTypes(w.got).length === 2, IDLE_MS + 4000),
        `expired after the idle time: ${JSON.stringify(sessionTypes(w.got))}`,
      );
      const expired = w.got.filter((e) => e.session !== undefined)[1]!;
      assert.equal(expired.type, WatchEvent_Type.TYPE_SESSION_EXPIRED);
      assert.deepEqual(expired.session, { sid: "room", service: "ev", nid: "", fromNid: "all-1", reason: "idle" });
      assert.ok(expired.revision > placed.revision, "revisions in order");
      // Looked up again: placed anew.
      assert.equal((await client(a).findNode({ service: "ev", sid: "room" })).nodes[0]?.nid, "all-1");
      assert.ok(await eventually(() => sessionTypes(w.got).length === 3));
      assert.equal(sessionTypes(w.got)[2], WatchEvent_Type.TYPE_SESSION_PLACED);
      // Resume after the first placement: the expiry and the new placement, in order.
      const resumed = watch(a, placed.revision);
      assert.ok(await eventually(() => sessionTypes(resumed.got).length === 2));
      assert.deepEqual(sessionTypes(resumed.got), [
        WatchEvent_Type.TYPE_SESSION_EXPIRED,
        WatchEvent_Type.TYPE_SESSION_PLACED,
      ]);
      const all = watch(a, rev0);
      assert.ok(await eventually(() => sessionTypes(all.got).length === 3));
      const revs = all.got.filter((e) => e.session !== undefined).map((e) => e.revision);
      assert.deepEqual(
        revs,
        [...revs].sort((x, y) => x - y),
      );
      for (const x of [w, resumed, all]) x.stop();
    });

    test("a released session is not announced expired", async () => {
      const a = islbs[0]!;
      const w = watch(a);
      assert.ok(await eventually(() => synced(w)));
      assert.equal((await client(a).findNode({ service: "ev", sid: "short" })).nodes[0]?.nid, "all-1");
      assert.ok(await eventually(() => sessionTypes(w.got, "short").length === 1));
      await client(a).releaseSession({ sid: "short", service: "ev", nid: "all-1", token: "tok-all-1" });
      assert.ok(await eventually(() => sessionTypes(w.got, "short").length === 2));
      await new Promise((r) => setTimeout(r, IDLE_MS + 2500));
      assert.deepEqual(sessionTypes(w.got, "short"), [
        WatchEvent_Type.TYPE_SESSION_PLACED,
        WatchEvent_Type.TYPE_SESSION_RELEASED,
      ]);
      w.stop();
    });

    test('a placement re-learnt from a node\'s report is announced placed, "reported by host"', async () => {
      const a = islbs[0]!;
      const w = watch(a, 0, "rep");
      assert.ok(await eventually(() => synced(w)));
      agents.push(
        await startAgent(
          ns.url,
          "rep-1",
          { node: { nid: "rep-1", service: "rep", dc: "dc1" } },
          { load: () => ({ sessions: 1 }), token: "tok-rep-1", leaseMs: 3000, prefix: "all", sessions: () => ["kept"] },
        ),
      );
      assert.ok(await eventually(() => sessionTypes(w.got).length === 1, 5000));
      const e = w.got.find((x) => x.session !== undefined)!;
      assert.equal(e.type, WatchEvent_Type.TYPE_SESSION_PLACED);
      assert.deepEqual(e.session, {
        sid: "kept",
        service: "rep",
        nid: "rep-1",
        fromNid: "",
        reason: "reported by host",
      });
      assert.equal((await client(a).findNode({ service: "rep", sid: "kept" })).nodes[0]?.nid, "rep-1");
      w.stop();
    });

    test('the default ("moves"): no placed, no expired', async () => {
      const m = islbs[islbs.length - 1]!;
      const w = watch(m);
      assert.ok(await eventually(() => synced(w)));
      assert.equal((await client(m).findNode({ service: "ev", sid: "quiet" })).nodes[0]?.nid, "mv-1");
      await new Promise((r) => setTimeout(r, IDLE_MS + 1500));
      // Expired by now: looked up again, placed anew, still no event.
      assert.equal((await client(m).findNode({ service: "ev", sid: "quiet" })).nodes[0]?.nid, "mv-1");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(sessionTypes(w.got), []);
      w.stop();
    });
  });
}
