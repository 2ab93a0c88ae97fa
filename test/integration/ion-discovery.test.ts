/**
 * ion drop-in: Go nodes' nats-discovery traffic, replayed from the captures, against islb:
 * registrations with leases next to native nodes, gets answered by the balancer, broadcasts for
 * Go watchers, expiry, bad input, one answer across instances.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type Msg, type NatsConnection } from "nats";
import { createClient } from "../../src/index.js";
import { ISLBDefinition, WatchEvent_Type } from "../../generated/islb/islb.js";
import { decodeGob } from "../../src/gob/decoder.js";
import { GobEncoder } from "../../src/gob/encoder.js";
import { struct } from "../../src/gob/types.js";
import { REQUEST } from "../../src/discovery/types.js";
import type { Running } from "../../src/cli/serve.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { eventually } from "../helpers/setup.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { discoveryScenarios, plainGo, unhex, type DiscoveryFrame } from "../helpers/vectors.js";

const scenarios = discoveryScenarios();
const frames = (name: string): DiscoveryFrame[] => scenarios.find((s) => s.scenario === name)?.frames ?? [];
const requests = (name: string, action: string): DiscoveryFrame[] =>
  frames(name).filter(
    (f) =>
      f.go_type === "discovery.Request" &&
      f.subject.startsWith("node.publish") &&
      (f.decoded_json as { Action: string }).Action === action,
  );
const decoded = (m: Msg) => plainGo(decodeGob(m.data).value) as Record<string, unknown>;

describe("ion's nats-discovery against islb", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let nc: NatsConnection;
  const broadcasts: Array<{ subject: string; value: Record<string, unknown> }> = [];
  const send = (f: DiscoveryFrame) => nc.request(f.subject, unhex(f.hex), { timeout: 2000 });

  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url, { nid: "islb-ion" });
    nc = await connect({ servers: ns.url });
    nc.subscribe("node.discovery.>", {
      callback: (_e, m) => broadcasts.push({ subject: m.subject, value: decoded(m) }),
    });
    await nc.flush();
  });
  after(async () => {
    await nc.close();
    await islb.close();
    await ns.stop();
  });

  test("a Go node's save registers it (with its typed ExtraInfo) next to native nodes, and is broadcast", async () => {
    const save = requests("keepalive_save_update_delete", "save")[0] as DiscoveryFrame;
    const r = decoded(await send(save));
    assert.deepEqual(r, { Success: true, Reason: "" });
    const goNode = (save.decoded_json as { Node: unknown }).Node;
    assert.ok(await eventually(() => broadcasts.some((b) => b.subject === "node.discovery.rtc.dc1.sfu-1")));
    const b = broadcasts.find((x) => x.subject === "node.discovery.rtc.dc1.sfu-1");
    assert.deepEqual(b?.value, { Action: "save", Node: goNode, Service: "", Params: null });
    const rec = islb.store.view.get("sfu-1");
    assert.equal(rec?.extra.get("cores")?.goType, "int");
    assert.equal(rec?.extra.get("load")?.floatValue, 0.5);
    // ...and native lookups see it.
    const client = createClient(ISLBDefinition, nc);
    const found = await client.findNode({ nid: "sfu-1" });
    assert.equal(found.nodes[0]?.rpc?.params.get("region"), "eu");
  });

  test("gets are answered by the balancer, as Go's registry answered them", async () => {
    for (const name of ["get_rtc_nid_sid", "get_no_match"]) {
      const [req, res] = frames(name);
      const got = decoded(await send(req as DiscoveryFrame));
      assert.deepEqual(got, res?.decoded_json, name);
    }
    // The whole service, with a native node in it too.
    const a = await startAgent(ns.url, "sfu-native", { node: { nid: "sfu-native", service: "rtc", dc: "dc9" } });
    try {
      const all = decoded(await send(frames("get_rtc_all")[0] as DiscoveryFrame)) as { Nodes: Array<{ NID: string }> };
      assert.deepEqual(all.Nodes.map((n) => n.NID).sort(), ["sfu-1", "sfu-native"]);
      assert.ok(
        await eventually(() =>
          broadcasts.some((x) => x.subject === "node.discovery.rtc.dc9.sfu-native" && x.value.Action === "save"),
        ),
        "native nodes' up is broadcast too",
      );
    } finally {
      await a.agent.stop();
      await a.nc.close();
    }
    assert.ok(
      await eventually(() =>
        broadcasts.some((x) => x.subject === "node.discovery.rtc.dc9.sfu-native" && x.value.Action === "delete"),
      ),
      "and their down",
    );
  });

  test("delete removes the node and is broadcast", async () => {
    const del = requests("keepalive_save_update_delete", "delete")[0] as DiscoveryFrame;
    assert.deepEqual(decoded(await send(del)), { Success: true, Reason: "" });
    assert.equal(islb.store.view.get("sfu-1"), undefined);
    assert.ok(
      await eventually(() =>
        broadcasts.some((x) => x.subject === "node.discovery.rtc.dc1.sfu-1" && x.value.Action === "delete"),
      ),
    );
  });

  test("a Go node made of captured bytes keeps itself alive with updates, and expires when they stop", async () => {
    const save = requests("expiry_kill9", "save")[0] as DiscoveryFrame;
    const update = requests("expiry_kill9", "update")[0] as DiscoveryFrame;
    await send(save);
    const client = createClient(ISLBDefinition, nc);
    const t0 = Date.now();
    while (Date.now() - t0 < 7000) {
      assert.deepEqual(decoded(await send(update)), { Success: true, Reason: "" });
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(
      (await client.findNode({ nid: "sfu-1" })).nodes.length,
      1,
      "alive past its 5 s lease thanks to updates",
    );
    const stopped = Date.now();
    let expiredAt = 0;
    const ac = new AbortController();
    const watching = (async () => {
      try {
        for await (const e of client.watch({ service: "rtc" }, { signal: ac.signal }))
          if (e.type === WatchEvent_Type.TYPE_EXPIRED) expiredAt = Date.now();
      } catch {
        /* aborted */
      }
    })();
    assert.ok(await eventually(() => expiredAt > 0, 8000));
    assert.ok(expiredAt - stopped <= 5000 + 1000, `expired ${expiredAt - stopped} ms after the last update`);
    assert.ok(
      await eventually(
        () =>
          broadcasts.filter((x) => x.value.Action === "delete" && x.subject === "node.discovery.rtc.dc1.sfu-1")
            .length >= 2,
      ),
    );
    ac.abort();
    await watching;
  });

  test("bad gob input gets a failed Response, changes nothing, and leaves the listener serving", async () => {
    const before = islb.store.view.revision;
    const bad = await nc.request("node.publish.rtc.dc1.x", new TextEncoder().encode("hello"), { timeout: 2000 });
    const r = decoded(bad) as { Success: boolean; Reason: string };
    assert.equal(r.Success, false);
    assert.match(r.Reason, /bad request/);
    const save = unhex(requests("keepalive_save_update_delete", "save")[0]?.hex as string);
    for (const cut of [10, 100, 300]) {
      const t = decoded(await nc.request("node.publish.rtc.dc1.sfu-1", save.subarray(0, cut), { timeout: 2000 })) as {
        Success: boolean;
      };
      assert.equal(t.Success, false);
    }
    const get = decoded(await send(frames("get_no_match")[0] as DiscoveryFrame));
    assert.deepEqual(get, { Nodes: null }, "still answering");
    assert.equal(islb.store.view.revision, before, "the registry did not change");
  });
});

test("two islb instances answer each discovery request once", async () => {
  const ns = await startNatsServer();
  const i1 = await startIslb(ns.url, { nid: "islb-q1" });
  const i2 = await startIslb(ns.url, { nid: "islb-q2" });
  const nc = await connect({ servers: ns.url });
  try {
    const inbox = createInbox();
    let replies = 0;
    nc.subscribe(inbox, { callback: () => replies++ });
    for (let i = 0; i < 10; i++)
      nc.publish("node.publish.video", unhex(frames("get_no_match")[0]?.hex as string), { reply: inbox });
    await nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(replies, 10);
  } finally {
    await nc.close();
    await i1.close();
    await i2.close();
    await ns.stop();
  }
});

test("two islb instances on one Redis broadcast each Go node's up and down once", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const i1 = await startIslb(ns.url, { nid: "islb-b1", redis: redisConfig(rs.url) });
  const i2 = await startIslb(ns.url, { nid: "islb-b2", redis: redisConfig(rs.url) });
  const nc = await connect({ servers: ns.url });
  try {
    const seen: string[] = [];
    nc.subscribe("node.discovery.>", {
      callback: (_e, m) => seen.push(String((decoded(m) as { Action: string }).Action)),
    });
    await nc.flush();
    await nc.request(
      "node.publish.rtc.dc1.sfu-1",
      unhex(requests("keepalive_save_update_delete", "save")[0]?.hex as string),
      { timeout: 2000 },
    );
    assert.ok(
      await eventually(() => i1.store.view.get("sfu-1") !== undefined && i2.store.view.get("sfu-1") !== undefined),
    );
    for (const u of requests("keepalive_save_update_delete", "update"))
      await nc.request(u.subject, unhex(u.hex), { timeout: 2000 });
    await nc.request(
      "node.publish.rtc.dc1.sfu-1",
      unhex(requests("keepalive_save_update_delete", "delete")[0]?.hex as string),
      { timeout: 2000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen, ["save", "delete"]);
  } finally {
    await nc.close();
    await i1.close();
    await i2.close();
    await rs.stop();
    await ns.stop();
  }
});

/** A discovery.Request for a Go node, as nats-discovery encodes it, with extra ExtraInfo. */
function goRequest(action: string, nid: string, extra: Record<string, string> = {}): Uint8Array {
  const extraInfo = new Map<string, { type: string; value: unknown }>([["cores", { type: "int", value: 8 }]]);
  for (const [k, v] of Object.entries(extra)) extraInfo.set(k, { type: "string", value: v });
  const node = struct([
    ["DC", "dc1"],
    ["Service", "rtc"],
    ["NID", nid],
    [
      "RPC",
      struct([
        ["Protocol", "nats-grpc"],
        ["Addr", "nats://x"],
        ["Params", new Map()],
      ]),
    ],
    ["ExtraInfo", extraInfo],
  ]);
  return new GobEncoder().encode(
    REQUEST,
    struct([
      ["Action", action],
      ["Node", node],
      ["Service", ""],
      ["Params", new Map()],
    ]),
  );
}

describe("nats-discovery passes the same authorization as the native API", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let a: NatsConnection;
  let b: NatsConnection;
  const ask = async (nc: NatsConnection, subject: string, data: Uint8Array) =>
    decoded(await nc.request(subject, data, { timeout: 2000 })) as { Success: boolean; Reason: string };

  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url, { nid: "islb-sec", secrets: { rtc: "s3cret" } });
    a = await connect({ servers: ns.url });
    b = await connect({ servers: ns.url });
  });
  after(async () => {
    await a.close();
    await b.close();
    await islb.close();
    await ns.stop();
  });

  test("a Go save or update without the service's secret is refused: never in FindNode, never given a session", async () => {
    const native = await startAgent(ns.url, "sfu-native-sec", {}, { secret: "s3cret" });
    try {
      for (const f of [
        requests("keepalive_save_update_delete", "save")[0],
        requests("keepalive_save_update_delete", "update")[0],
      ] as DiscoveryFrame[]) {
        const r = await ask(a, f.subject, unhex(f.hex));
        assert.equal(r.Success, false, "refused");
        assert.match(r.Reason, /secret/);
      }
      const wrong = await ask(a, "node.publish.rtc.dc1.sfu-g", goRequest("save", "sfu-g", { secret: "guess" }));
      assert.equal(wrong.Success, false);
      const client = createClient(ISLBDefinition, a);
      assert.equal((await client.findNode({ nid: "sfu-1" })).nodes.length, 0);
      assert.equal((await client.findNode({ nid: "sfu-g" })).nodes.length, 0);
      for (let i = 0; i < 20; i++)
        assert.equal((await client.findNode({ service: "rtc", sid: `room-sec-${i}` })).nodes[0]?.nid, "sfu-native-sec");
    } finally {
      await native.agent.stop();
      await native.nc.close();
    }
  });

  test("with the secret in ExtraInfo a Go node registers; the secret is kept nowhere and broadcast to no one", async () => {
    const seen: string[] = [];
    const sub = b.subscribe("node.discovery.rtc.>", { callback: (_e, m) => seen.push(JSON.stringify(decoded(m))) });
    await b.flush();
    const r = await ask(a, "node.publish.rtc.dc1.sfu-ok", goRequest("save", "sfu-ok", { secret: "s3cret" }));
    assert.deepEqual(r, { Success: true, Reason: "" });
    const rec = islb.store.view.get("sfu-ok");
    assert.equal(rec?.extra.get("cores")?.intValue, 8);
    assert.equal(rec?.extra.has("secret"), false, "not stored");
    assert.ok(await eventually(() => seen.length > 0));
    assert.ok(
      seen.every((s) => !s.includes("s3cret")),
      "not broadcast",
    );
    const got = decoded(
      await a.request("node.publish.rtc", unhex(frames("get_rtc_all")[0]?.hex as string), { timeout: 2000 }),
    );
    assert.ok(!JSON.stringify(got).includes("s3cret"), "not answered to gets");
    sub.unsubscribe();
    assert.deepEqual(await ask(a, "node.publish.rtc.dc1.sfu-ok", goRequest("delete", "sfu-ok")), {
      Success: true,
      Reason: "",
    });
  });

  test("a Go node's entry belongs to the connection (or owner_token) that registered it", async () => {
    const subj = "node.publish.rtc.dc1.sfu-own";
    assert.equal((await ask(a, subj, goRequest("save", "sfu-own", { secret: "s3cret" }))).Success, true);
    const over = await ask(b, subj, goRequest("save", "sfu-own", { secret: "s3cret" }));
    assert.equal(over.Success, false, "another connection, even with the secret, cannot overwrite it");
    assert.match(over.Reason, /another owner/);
    assert.equal((await ask(b, subj, goRequest("update", "sfu-own", { secret: "s3cret" }))).Success, false);
    assert.equal((await ask(b, subj, goRequest("delete", "sfu-own"))).Success, false, "nor delete it");
    assert.ok(islb.store.view.get("sfu-own") !== undefined);
    assert.equal(
      (await ask(a, subj, goRequest("update", "sfu-own", { secret: "s3cret" }))).Success,
      true,
      "its own connection keeps it alive",
    );
    assert.equal((await ask(a, subj, goRequest("delete", "sfu-own"))).Success, true);
    assert.equal(islb.store.view.get("sfu-own"), undefined);
    // With an owner_token, the node (restarted on a new connection) keeps its entry; others cannot take it.
    assert.equal(
      (await ask(a, subj, goRequest("save", "sfu-own", { secret: "s3cret", owner_token: "mine" }))).Success,
      true,
    );
    assert.equal(
      (await ask(b, subj, goRequest("save", "sfu-own", { secret: "s3cret", owner_token: "yours" }))).Success,
      false,
    );
    assert.equal(
      (await ask(b, subj, goRequest("update", "sfu-own", { secret: "s3cret", owner_token: "mine" }))).Success,
      true,
      "same owner_token, new connection",
    );
    assert.equal(islb.store.view.get("sfu-own")?.extra.has("owner_token"), false, "not stored");
    assert.equal((await ask(b, subj, goRequest("delete", "sfu-own", { owner_token: "mine" }))).Success, true);
  });

  test("a native node's entry cannot be overwritten or deleted through nats-discovery", async () => {
    const native = await startAgent(ns.url, "sfu-nat", { region: "eu" }, { secret: "s3cret" });
    try {
      const before = islb.store.view.get("sfu-nat");
      for (const action of ["save", "update", "delete"]) {
        const r = await ask(a, "node.publish.rtc.dc1.sfu-nat", goRequest(action, "sfu-nat", { secret: "s3cret" }));
        assert.equal(r.Success, false, action);
      }
      const after = islb.store.view.get("sfu-nat");
      assert.equal(after?.node.rpc?.addr, before?.node.rpc?.addr, "unchanged");
      assert.equal(after?.extra.has("cores"), false);
    } finally {
      await native.agent.stop();
      await native.nc.close();
    }
  });
});
