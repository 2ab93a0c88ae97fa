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
import { gobBomb } from "../helpers/gob-bomb.js";

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

type GoAnyValue = { type: string; value: unknown };
/** A discovery.Request with every part chosen (the checks below vary one at a time). */
function goMessage(o: {
  action: string;
  nid?: string;
  service?: string;
  addr?: string;
  rpcParams?: Map<string, string>;
  extra?: Map<string, GoAnyValue>;
  params?: Map<string, GoAnyValue>;
}): Uint8Array {
  const node = struct([
    ["DC", o.action === "get" ? "" : "dc1"],
    ["Service", o.action === "get" ? "" : (o.service ?? "rtc")],
    ["NID", o.nid ?? ""],
    [
      "RPC",
      struct([
        ["Protocol", o.action === "get" ? "" : "nats"],
        ["Addr", o.addr ?? ""],
        ["Params", o.rpcParams ?? new Map()],
      ]),
    ],
    ["ExtraInfo", o.extra ?? new Map()],
  ]);
  return new GobEncoder().encode(
    REQUEST,
    struct([
      ["Action", o.action],
      ["Node", node],
      ["Service", o.action === "get" ? (o.service ?? "rtc") : ""],
      ["Params", o.params ?? new Map()],
    ]),
  );
}
const text = (value: string): GoAnyValue => ({ type: "string", value });

describe("nats-discovery input passes the native API's checks and limits", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let nc: NatsConnection;
  const ask = async (data: Uint8Array, subject = "node.publish.rtc") =>
    decoded(await nc.request(subject, data, { timeout: 10_000 }));

  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url, { nid: "islb-checks" });
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    await nc.close();
    await islb.close();
    await ns.stop();
  });

  test("a gob bomb (1 KB whose zero value is 2^30 or 4^30 objects) gets a failed Response and islb keeps serving", async () => {
    for (const width of [2, 4]) {
      const r = (await ask(gobBomb(width, 30))) as { Success: boolean; Reason: string };
      assert.equal(r.Success, false);
      assert.match(r.Reason, /^bad request: the value is too large/);
    }
    assert.deepEqual(await ask(unhex(frames("get_no_match")[0]?.hex as string)), { Nodes: null }, "still answering");
    const client = createClient(ISLBDefinition, nc);
    assert.deepEqual((await client.findNode({ service: "rtc" })).nodes, [], "the native API too");
  });

  test("a save with what the native Register refuses is refused, and nothing is stored", async () => {
    const many = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`]));
    const cases: Array<[string, Parameters<typeof goMessage>[0], RegExp]> = [
      [
        "control characters in Addr",
        { action: "save", addr: "\u001b[31mnats://x" },
        /node\.rpc\.addr must not contain control/,
      ],
      ["a 2000-character Addr", { action: "save", addr: "n".repeat(2000) }, /node\.rpc\.addr is longer than 1024/],
      ["65 RPC params", { action: "save", rpcParams: many(65) }, /node\.rpc\.params has 65 entries/],
      [
        "65 ExtraInfo entries",
        { action: "save", extra: new Map([...many(65)].map(([k, v]) => [k, text(v)])) },
        /extra_info has 65 entries/,
      ],
      [
        "a NUL in an ExtraInfo value",
        { action: "save", extra: new Map([["x", text("a\u0000b")]]) },
        /extra_info\["x"\] must not contain control/,
      ],
      [
        "a 200-character ExtraInfo key",
        { action: "save", extra: new Map([["k".repeat(200), text("v")]]) },
        /extra_info key is longer than 128/,
      ],
    ];
    for (const [what, msg, reason] of cases) {
      for (const action of ["save", "update"]) {
        const r = (await ask(goMessage({ ...msg, action, nid: "sfu-bad" }), "node.publish.rtc.dc1.sfu-bad")) as {
          Success: boolean;
          Reason: string;
        };
        assert.equal(r.Success, false, `${action}: ${what}`);
        assert.match(r.Reason, reason, `${action}: ${what}`);
      }
      assert.equal(islb.store.view.get("sfu-bad"), undefined, what);
    }
    const del = (await ask(goMessage({ action: "delete", nid: "a.b" }))) as { Success: boolean; Reason: string };
    assert.equal(del.Success, false);
    assert.match(del.Reason, /NID "a\.b" must not contain '\.'/);
    // Normal values, up to the limits, are stored.
    const ok = goMessage({
      action: "save",
      nid: "sfu-v",
      addr: "nats://127.0.0.1:4222",
      rpcParams: many(64),
      extra: new Map([...many(64)].map(([k, v]) => [k, text(v)])),
    });
    assert.deepEqual(await ask(ok, "node.publish.rtc.dc1.sfu-v"), { Success: true, Reason: "" });
    assert.equal(islb.store.view.get("sfu-v")?.extra.size, 64);
  });

  test("a save, update or delete counts only on its node's own subject, node.publish.<Service>.<DC>.<NID>", async () => {
    for (const [action, subject] of [
      ["save", "node.publish.rtc"],
      ["update", "node.publish.rtc.dc1.sfu-other"],
      ["delete", "node.publish.rtc.dc2.sfu-v"],
      ["delete", "node.publish.video.dc1.sfu-v"],
    ] as const) {
      const r = (await ask(goMessage({ action, nid: "sfu-v", addr: "nats://elsewhere" }), subject)) as {
        Success: boolean;
        Reason: string;
      };
      assert.equal(r.Success, false, `${action} on ${subject}`);
      assert.match(r.Reason, /comes on node\.publish\.rtc\.dc1\.sfu-v, not /);
    }
    assert.equal(islb.store.view.get("sfu-v")?.node.rpc?.addr, "nats://127.0.0.1:4222", "unchanged");
  });

  test("a get with a sid, service or nid the native FindNode refuses gets no nodes and places nothing", async () => {
    assert.ok(islb.store.view.get("sfu-v"), "a node that a valid get would be given");
    const bad: Array<[string, Parameters<typeof goMessage>[0], string]> = [
      [
        "a 60 KB sid with NUL and ESC",
        { action: "get", params: new Map([["sid", text("\u0000\u001b[31m" + "x".repeat(60_000))]]) },
        "rtc",
      ],
      ["a sid with ESC", { action: "get", params: new Map([["sid", text("\u001b[31mroom")]]) }, "rtc"],
      ["a 257-character sid", { action: "get", params: new Map([["sid", text("r".repeat(257))]]) }, "rtc"],
      [
        "a service with a wildcard",
        { action: "get", service: "rtc.>", params: new Map([["sid", text("room-w")]]) },
        "rtc.>",
      ],
      ["a nid with a dot", { action: "get", params: new Map([["nid", text("sfu-v.x")]]) }, "rtc"],
    ];
    for (const [what, msg, service] of bad) {
      assert.deepEqual(await ask(goMessage(msg)), { Nodes: null }, what);
      const sid = param(msg.params, "sid");
      if (sid !== "") assert.equal(await islb.store.sessionNode(service, sid), undefined, `${what}: not placed`);
    }
    const good = (await ask(goMessage({ action: "get", params: new Map([["sid", text("room-v é")]]) }))) as {
      Nodes: Array<{ NID: string }>;
    };
    assert.equal(good.Nodes[0]?.NID, "sfu-v", "a printable sid is placed, as FindNode places it");
    assert.equal(await islb.store.sessionNode("rtc", "room-v é"), "sfu-v");
  });
});

const param = (params: Map<string, GoAnyValue> | undefined, key: string): string => {
  const v = params?.get(key)?.value;
  return typeof v === "string" ? v : "";
};
