/**
 * An idle node (all of its load figures 0, whose protobuf encoding is empty) heartbeating
 * through the Redis store's load-only writes stays alive in every instance's view for as long
 * as it heartbeats: its lease is renewed like a busy node's, and FindNode keeps finding it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "nats";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { createClient } from "../../src/index.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";

test("a node reporting zero load keeps its lease in both instances' views past several leases", async () => {
  const ns = await startNatsServer();
  const redis = await startRedisServer();
  const a = await startIslb(ns.url, { nid: "islb-a", redis: redisConfig(redis.url) });
  const b = await startIslb(ns.url, { nid: "islb-b", redis: redisConfig(redis.url) });
  const node = await startAgent(ns.url, "sfu-idle"); // lease 1.5 s, heartbeats every 0.5 s, no load given
  const nc = await connect({ servers: ns.url });
  try {
    const beats = node.agent.heartbeats;
    await new Promise((r) => setTimeout(r, 4000));
    assert.ok(node.agent.heartbeats >= beats + 4, `heartbeats went on (${node.agent.heartbeats - beats})`);
    const now = Date.now();
    for (const i of [a, b]) {
      const r = i.store.view.get("sfu-idle");
      assert.ok(
        r !== undefined && r.expiresAt > now,
        `${i.config.nid}: the lease ends ${r === undefined ? "(gone)" : `${r.expiresAt - now} ms from now`}`,
      );
      assert.equal(r.load.sessions, 0);
    }
    const { nodes } = await createClient(ISLBDefinition, nc).findNode({ service: "rtc" });
    assert.deepEqual(
      nodes.map((n) => n.nid),
      ["sfu-idle"],
    );
  } finally {
    await nc.close();
    await node.agent.stop();
    await node.nc.close();
    await a.close();
    await b.close();
    await redis.stop();
    await ns.stop();
  }
});
