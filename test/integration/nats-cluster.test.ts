/**
 * islb on the NATS topologies users run: a 3-server cluster (routes) with one server killed
 * under load, and two clusters joined by gateways (a supercluster of two regions).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { NodeAgent } from "../../src/agent/agent.js";
import { createClient } from "../../src/index.js";
import type { RegistryEvent } from "../../src/registry/types.js";
import { freePort } from "../helpers/nats-server.js";
import { startLeaf, startNatsCluster, startSupercluster, type ClusterServer } from "../helpers/nats-cluster.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { redisConfig, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";

/** A node agent connected to `first` (then the others), registered. */
async function agentOn(
  first: string,
  others: string[],
  nid: string,
  region: string,
): Promise<{ agent: NodeAgent; nc: NatsConnection }> {
  const nc = await connect({
    servers: [first, ...others],
    noRandomize: true,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
  });
  const agent = new NodeAgent(nc, {
    registration: { node: { nid, service: "rtc", dc: region, rpc: { protocol: "nats-grpc", addr: first } }, region },
  });
  await agent.start();
  return { agent, nc };
}

const serverOf = (nc: NatsConnection): string => `nats://${nc.getServer()}`;

test("a 3-server cluster: a server killed under load loses no lease and moves no session; only calls in flight on it fail", async () => {
  const cluster = await startNatsCluster("c", 3);
  const redis = await startRedisServer();
  const [s1, s2, s3] = cluster.servers as [ClusterServer, ClusterServer, ClusterServer];
  // Two islb instances sharing Redis, on the first and second servers; nodes on all three.
  const only = (s: ClusterServer): string =>
    [s.url, ...cluster.servers.filter((x) => x !== s).map((x) => x.url)].join(",");
  const cfg = { redis: redisConfig(redis.url), leaseMs: 3000, heartbeatMs: 1000 };
  const islb1 = await startIslb({ url: s1.url }, { ...cfg, nid: "islb-1" });
  const islb2 = await startIslb({ url: s2.url }, { ...cfg, nid: "islb-2" });
  const agents: Array<{ agent: NodeAgent; nc: NatsConnection }> = [];
  for (const [i, s] of [s1, s1, s2, s2, s3, s3].entries())
    agents.push(
      await agentOn(
        s.url,
        cluster.servers.filter((x) => x !== s).map((x) => x.url),
        `sfu-${i}`,
        "eu",
      ),
    );
  const client = await connect({ servers: [s3.url], noRandomize: true });
  const islb = createClient(ISLBDefinition, client);
  const expired: RegistryEvent[] = [];
  for (const r of [islb1, islb2]) r.store.view.subscribe((e) => void (e.type === "expired" && expired.push(e)));
  try {
    assert.equal(serverOf(islb1.nc), s1.url, `islb-1 should start on ${s1.url} (${only(s1)})`);
    await eventually(() => islb1.store.view.size === 6 && islb2.store.view.size === 6, 5000);
    const placed = new Map<string, string>();
    let ok = 0;
    let failed = 0;
    let moved = 0;
    let failedLate = 0;
    let killedAt = 0;
    const IN_FLIGHT = 32;
    const end = Date.now() + 7000;
    const worker = async (w: number): Promise<void> => {
      for (let k = w; Date.now() < end; k += IN_FLIGHT) {
        const sid = `room-${k % 200}`;
        try {
          const { nodes } = await islb.findNode({ service: "rtc", sid }, { deadline: 1500 });
          ok++;
          const nid = nodes[0]?.nid ?? "";
          const before = placed.get(sid);
          if (before === undefined) placed.set(sid, nid);
          else if (before !== nid) moved++;
        } catch {
          failed++;
          if (killedAt > 0 && Date.now() > killedAt + 2500) failedLate++;
        }
      }
    };
    const load = Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
    await new Promise((r) => setTimeout(r, 2000));
    const beatsBefore = agents.map((a) => a.agent.heartbeats);
    killedAt = Date.now();
    await s1.kill();
    await load;
    assert.ok(ok > 1000, `${ok} lookups answered`);
    assert.ok(failed <= IN_FLIGHT, `${failed} lookups failed; only the ${IN_FLIGHT} in flight may`);
    assert.equal(failedLate, 0, "every lookup from 2.5 s after the kill on was answered");
    assert.equal(moved, 0, "no session moved");
    assert.deepEqual(
      expired.map((e) => e.record.node.nid),
      [],
      "no lease expired",
    );
    // islb-1 and the nodes of the killed server are on the other servers now, heartbeating.
    assert.notEqual(serverOf(islb1.nc), s1.url);
    await eventually(() => agents.every((a, i) => a.agent.heartbeats > (beatsBefore[i] as number)), 3000);
    assert.ok(agents.every((a) => serverOf(a.nc) !== s1.url));
    assert.equal(islb2.store.view.size, 6);
    console.log(
      `cluster failover: ${ok} lookups answered, ${failed} failed (in flight on the killed server), 0 moved, 0 expired`,
    );
  } finally {
    await client.close();
    for (const a of agents) {
      await a.agent.stop();
      await a.nc.close();
    }
    await islb1.close();
    await islb2.close();
    await redis.stop();
    await cluster.stop();
  }
});

test("a supercluster of two regions: the local islb answers, placements honour the region, the other region answers when the local islb stops", async () => {
  const [a, b] = (await startSupercluster(["region-a", "region-b"])) as [
    Awaited<ReturnType<typeof startNatsCluster>>,
    Awaited<ReturnType<typeof startNatsCluster>>,
  ];
  const redis = await startRedisServer();
  const cfg = { redis: redisConfig(redis.url) };
  const islbA = await startIslb({ url: a.urls }, { ...cfg, nid: "islb-a", dc: "a" });
  const islbB = await startIslb({ url: b.urls }, { ...cfg, nid: "islb-b", dc: "b" });
  const agents = [
    await agentOn(a.urls, [], "sfu-a1", "region-a"),
    await agentOn(a.urls, [], "sfu-a2", "region-a"),
    await agentOn(b.urls, [], "sfu-b1", "region-b"),
    await agentOn(b.urls, [], "sfu-b2", "region-b"),
  ];
  const client = await connect({ servers: a.urls });
  const islb = createClient(ISLBDefinition, client);
  const findNodes = (r: { server: { callStats(): ReadonlyMap<string, { requests: number }> } }): number =>
    r.server.callStats().get("/islb.ISLB/FindNode")?.requests ?? 0;
  try {
    await eventually(() => islbA.store.view.size === 4 && islbB.store.view.size === 4, 5000);
    const a0 = findNodes(islbA);
    const b0 = findNodes(islbB);
    for (let i = 0; i < 50; i++) {
      const { nodes } = await islb.findNode(
        { service: "rtc", sid: `room-${i}`, region: "region-a" },
        { deadline: 2000 },
      );
      assert.match(nodes[0]?.nid ?? "", /^sfu-a/, "placed in the caller's region");
    }
    assert.equal(findNodes(islbA) - a0, 50, "region A's islb answered region A's lookups");
    assert.equal(findNodes(islbB) - b0, 0, "region B's islb answered none of them");
    await islbA.close();
    // Interest moves across the gateway: region B's islb takes region A's lookups.
    let answered = false;
    const until = Date.now() + 5000;
    while (!answered && Date.now() < until) {
      try {
        const { nodes } = await islb.findNode(
          { service: "rtc", sid: "room-0", region: "region-a" },
          { deadline: 1000 },
        );
        answered = nodes[0]?.nid.startsWith("sfu-a") ?? false;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(answered, "region B's islb answered once region A's stopped, with the placement made before");
    assert.ok(findNodes(islbB) - b0 >= 1);
  } finally {
    await client.close();
    for (const x of agents) {
      await x.agent.stop();
      await x.nc.close();
    }
    await islbB.close();
    await islbA.close().catch(() => undefined);
    await redis.stop();
    await a.stop();
    await b.stop();
  }
});

test("a leaf node at the edge: nodes and signalling on the leaf register with and ask the core's islb", async () => {
  const leafPort = await freePort();
  const core = await startNatsCluster("core", 1, undefined, leafPort);
  const leaf = await startLeaf("edge-1", leafPort);
  const islbCore = await startIslb({ url: core.urls }, { nid: "islb-core" });
  const node = await agentOn(leaf.url, [], "sfu-edge", "edge");
  const client = await connect({ servers: leaf.url });
  try {
    await eventually(() => islbCore.store.view.size === 1, 5000);
    const { nodes } = await createClient(ISLBDefinition, client).findNode(
      { service: "rtc", sid: "room-1" },
      { deadline: 2000 },
    );
    assert.equal(nodes[0]?.nid, "sfu-edge");
  } finally {
    await client.close();
    await node.agent.stop();
    await node.nc.close();
    await islbCore.close();
    await leaf.close();
    await core.stop();
  }
});
