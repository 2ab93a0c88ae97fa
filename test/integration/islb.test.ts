/** The ISLB service over NATS, with node agents: placement, affinity, watch, expiry, bad input. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "nats";
import { ClientError, Metadata, Status, createClient } from "../../src/index.js";
import { ISLBDefinition, NodeState, WatchEvent_Type, type WatchEvent } from "../../generated/islb/islb.js";
import type { Running } from "../../src/cli/serve.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { eventually } from "../helpers/setup.js";
import { startAgent, startIslb } from "../helpers/islb.js";

const isStatus = (code: Status) => (e: unknown) => e instanceof ClientError && e.code === code;

describe("ISLB over NATS (memory store)", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let nc: NatsConnection;
  let client: ReturnType<typeof createClient<typeof ISLBDefinition>>;
  const cleanup: Array<() => Promise<unknown>> = [];

  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url, { nid: "islb-1", leaseMs: 1500 });
    nc = await connect({ servers: ns.url });
    client = createClient(ISLBDefinition, nc);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await nc.close();
    await islb.close();
    await ns.stop();
  });

  const agent = async (nid: string, extra = {}, opts = {}) => {
    const a = await startAgent(ns.url, nid, extra, opts);
    cleanup.push(async () => {
      await a.agent.stop();
      await a.nc.close();
    });
    return a.agent;
  };

  test("registered nodes are found; a session sticks to its node; the least loaded node gets new sessions", async () => {
    await agent("sfu-a", { load: { sessions: 10 } }, { load: () => ({ sessions: 10 }) });
    await agent("sfu-b", { load: { sessions: 2 } }, { load: () => ({ sessions: 2 }) });
    const all = await client.findNode({ service: "rtc" });
    assert.deepEqual(all.nodes.map((n) => n.nid).slice(0, 2), ["sfu-b", "sfu-a"], "best first");
    const first = await client.findNode({ service: "rtc", sid: "room1" });
    assert.equal(first.nodes[0]?.nid, "sfu-b");
    for (let i = 0; i < 5; i++)
      assert.equal((await client.findNode({ service: "rtc", sid: "room1" })).nodes[0]?.nid, "sfu-b");
    assert.equal((await client.findNode({ nid: "sfu-a" })).nodes[0]?.nid, "sfu-a");
    assert.equal((await client.findNode({ nid: "sfu-a", service: "other" })).nodes.length, 0);
    assert.equal((await client.findNode({ service: "nope" })).nodes.length, 0);
    // the ion-style JSON request over plain NATS
    const m = await nc.request("nrpc.islb.ISLB.FindNode", new TextEncoder().encode('{"service":"rtc","sid":"room1"}'));
    assert.equal(JSON.parse(new TextDecoder().decode(m.data)).nodes[0].nid, "sfu-b");
  });

  test("a draining node keeps no session: the next lookup places it elsewhere", async () => {
    const a = await agent("sfu-d", { load: { sessions: 0 } });
    const placed = await client.findNode({ service: "rtc", sid: "room-d" });
    assert.equal(placed.nodes[0]?.nid, "sfu-d");
    await a.drain();
    const moved = await client.findNode({ service: "rtc", sid: "room-d" });
    assert.notEqual(moved.nodes[0]?.nid, "sfu-d");
  });

  test("ReleaseSession: only the hosting node with its owner token may release (no admin token configured)", async () => {
    await agent("sfu-rel", { node: { nid: "sfu-rel", service: "rel" } }, { token: "tok-rel" });
    await agent("sfu-rel2", { node: { nid: "sfu-rel2", service: "rel" } }, { token: "tok-rel2" });
    const sid = "room-rel";
    const host = (await client.findNode({ service: "rel", sid })).nodes[0]?.nid as string;
    const other = host === "sfu-rel" ? "sfu-rel2" : "sfu-rel";
    const tokens: Record<string, string | undefined> = { "sfu-rel": "tok-rel", "sfu-rel2": "tok-rel2" };
    assert.ok(tokens[host] !== undefined, host);
    const kept = async () => assert.equal(await islb.store.sessionNode("rel", sid), host, "the placement is kept");
    await assert.rejects(
      client.releaseSession({ sid, service: "rel" }),
      isStatus(Status.PERMISSION_DENIED),
      "anonymous",
    );
    await kept();
    await assert.rejects(
      client.releaseSession({ sid, service: "rel", adminToken: "guess" }),
      isStatus(Status.PERMISSION_DENIED),
      "no admin token is configured",
    );
    await kept();
    await assert.rejects(
      client.releaseSession({ sid, service: "rel", nid: host, token: "thief" }),
      isStatus(Status.PERMISSION_DENIED),
      "the host's id with a wrong token",
    );
    await kept();
    await assert.rejects(
      client.releaseSession({ sid, service: "rel", nid: other, token: tokens[other] as string }),
      isStatus(Status.PERMISSION_DENIED),
      "another node, with its own token",
    );
    await kept();
    await client.releaseSession({ sid, service: "rel", nid: host, token: tokens[host] as string });
    assert.equal(await islb.store.sessionNode("rel", sid), undefined, "released by its host");
  });

  test("watch: snapshot, then changes in order; resume from a revision misses and repeats nothing", async () => {
    const events: WatchEvent[] = [];
    const ac = new AbortController();
    const done = (async () => {
      try {
        for await (const e of client.watch({ service: "sig" }, { signal: ac.signal })) events.push(e);
      } catch {
        /* aborted */
      }
    })();
    await eventually(() => events.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED));
    const w1 = await agent("sig-1", { node: { nid: "sig-1", service: "sig" } });
    await eventually(() => events.some((e) => e.type === WatchEvent_Type.TYPE_UP));
    ac.abort();
    await done;
    const lastSeen = events[events.length - 1]?.revision as number;
    // While nobody watches: a second node comes, the first goes.
    const w2 = await agent("sig-2", { node: { nid: "sig-2", service: "sig" } });
    await w1.stop();
    const resumed: WatchEvent[] = [];
    const ac2 = new AbortController();
    const done2 = (async () => {
      try {
        for await (const e of client.watch({ service: "sig", fromRevision: lastSeen }, { signal: ac2.signal }))
          resumed.push(e);
      } catch {
        /* aborted */
      }
    })();
    await eventually(() => resumed.some((e) => e.type === WatchEvent_Type.TYPE_SYNCED));
    ac2.abort();
    await done2;
    const changes = resumed.filter(
      (e) => e.type !== WatchEvent_Type.TYPE_SYNCED && e.type !== WatchEvent_Type.TYPE_UPDATED,
    );
    assert.deepEqual(
      changes.map((e) => [e.type, e.node?.registration?.node?.nid]),
      [
        [WatchEvent_Type.TYPE_UP, "sig-2"],
        [WatchEvent_Type.TYPE_DOWN, "sig-1"],
      ],
    );
    const revs = resumed.filter((e) => e.type !== WatchEvent_Type.TYPE_SYNCED).map((e) => e.revision);
    assert.ok(
      revs.every((r, i) => r > lastSeen && (i === 0 || r > (revs[i - 1] as number))),
      "strictly after the resume point, in order, no repeats",
    );
    // A revision older than anything kept: RESET, then a snapshot.
    const reset: WatchEvent[] = [];
    for await (const e of client.watch({ service: "sig", fromRevision: 1 })) {
      reset.push(e);
      if (e.type === WatchEvent_Type.TYPE_SYNCED) break;
    }
    assert.equal(reset[0]?.type, WatchEvent_Type.TYPE_RESET);
    assert.deepEqual(
      reset.filter((e) => e.type === WatchEvent_Type.TYPE_EXISTING).map((e) => e.node?.registration?.node?.nid),
      ["sig-2"],
    );
    await w2.stop();
  });

  test("a node killed with kill -9 is gone from FindNode and Watch within its lease + 1 s", async () => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL("../helpers/child-agent.js", import.meta.url)), ns.url, "victim", "1500"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    cleanup.push(async () => child.kill("SIGKILL"));
    await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
    assert.equal((await client.findNode({ nid: "victim" })).nodes.length, 1);
    let gone = 0;
    const ac = new AbortController();
    const watching = (async () => {
      try {
        for await (const e of client.watch({ service: "rtc" }, { signal: ac.signal })) {
          if (e.type === WatchEvent_Type.TYPE_EXPIRED && e.node?.registration?.node?.nid === "victim")
            gone = Date.now();
        }
      } catch {
        /* aborted */
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    child.kill("SIGKILL");
    assert.ok(await eventually(() => gone > 0, 4000), "Watch reported the expiry");
    assert.ok(gone - t0 <= 1500 + 1000, `expired after ${gone - t0} ms`);
    assert.equal((await client.findNode({ nid: "victim" })).nodes.length, 0);
    ac.abort();
    await watching;
  });

  test("a node that keeps heartbeating is never expired", async () => {
    const a = await agent("steady");
    await new Promise((r) => setTimeout(r, 4000)); // more than two leases of 1.5 s
    assert.equal((await client.findNode({ nid: "steady" })).nodes.length, 1);
    assert.ok(a.heartbeats >= 4, `${a.heartbeats} heartbeats`);
    assert.equal(a.registrations, 1, "never had to register again");
  });

  test("ownership: another owner cannot overwrite, drain or deregister a node", async () => {
    await agent("owned");
    const reg = { node: { nid: "owned", service: "rtc" } };
    await assert.rejects(client.register({ registration: reg, token: "thief" }), isStatus(Status.PERMISSION_DENIED));
    await assert.rejects(
      client.heartbeat({ nid: "owned", token: "thief", state: NodeState.NODE_STATE_DRAINING }),
      isStatus(Status.PERMISSION_DENIED),
    );
    await assert.rejects(client.deregister({ nid: "owned", token: "thief" }), isStatus(Status.PERMISSION_DENIED));
    const still = await client.findNode({ nid: "owned" });
    assert.equal(still.nodes.length, 1);
  });

  test("bad input is INVALID_ARGUMENT and changes nothing", async () => {
    const before = (await client.findNode({})).nodes.length;
    for (const nid of ["a.b", "a*", ">", "a b", ""]) {
      await assert.rejects(
        client.register({ registration: { node: { nid, service: "rtc" } } }),
        isStatus(Status.INVALID_ARGUMENT),
        JSON.stringify(nid),
      );
    }
    await assert.rejects(
      client.register({ registration: { node: { nid: "ok", service: "" } } }),
      isStatus(Status.INVALID_ARGUMENT),
      "empty service",
    );
    await assert.rejects(
      client.register({ registration: { node: { nid: "ok", service: "r.t" } } }),
      isStatus(Status.INVALID_ARGUMENT),
    );
    const huge = new Map(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"] as [string, string]));
    await assert.rejects(
      client.register({
        registration: { node: { nid: "ok", service: "rtc", rpc: { protocol: "x", addr: "y", params: huge } } },
      }),
      isStatus(Status.INVALID_ARGUMENT),
      "huge map",
    );
    await assert.rejects(
      client.register({ registration: { node: { nid: "ok", service: "rtc" }, load: { cpu: -1 } } }),
      isStatus(Status.INVALID_ARGUMENT),
      "negative load",
    );
    await assert.rejects(client.findNode({ service: "a.b" }), isStatus(Status.INVALID_ARGUMENT));
    await assert.rejects(
      client.findNode({ sid: "room", service: "" }),
      isStatus(Status.INVALID_ARGUMENT),
      "a session needs a service",
    );
    await assert.rejects(client.findNode({ sid: "x".repeat(300), service: "rtc" }), isStatus(Status.INVALID_ARGUMENT));
    for (const sid of ["room\u0000", "room\u001b[2J", "room\u009b2J"])
      await assert.rejects(
        client.findNode({ sid, service: "rtc" }),
        isStatus(Status.INVALID_ARGUMENT),
        JSON.stringify(sid),
      );
    await assert.rejects(client.heartbeat({ nid: "sfu-a", token: "" }), isStatus(Status.INVALID_ARGUMENT));
    assert.equal((await client.findNode({})).nodes.length, before, "nothing registered");
    const bad = await nc.request(
      "nrpc.islb.ISLB.Register",
      new TextEncoder().encode('{"registration": {"node": {"nid": "x.y", "service": "rtc"}}}'),
    );
    assert.equal(bad.headers?.get("grpc-status"), String(Status.INVALID_ARGUMENT));
    assert.match(bad.headers?.get("grpc-message") ?? "", /node.nid/);
  });

  test("no node for a service: NOT_FOUND; all draining: RESOURCE_EXHAUSTED", async () => {
    await assert.rejects(client.findNode({ service: "ghost", sid: "r" }), isStatus(Status.NOT_FOUND));
    const a = await agent("only-one", { node: { nid: "only-one", service: "rec" } });
    await a.drain();
    await assert.rejects(client.findNode({ service: "rec", sid: "r" }), isStatus(Status.RESOURCE_EXHAUSTED));
  });
});

describe("registration authorization", () => {
  test("a service's secret is required to register its nodes", async () => {
    const ns = await startNatsServer();
    const islb = await startIslb(ns.url, { nid: "islb-s", secrets: { rtc: "s3cret" } }).catch(async (e: unknown) => {
      await ns.stop();
      throw e;
    });
    const nc = await connect({ servers: ns.url });
    const client = createClient(ISLBDefinition, nc);
    try {
      const reg = { node: { nid: "sfu-s", service: "rtc" } };
      await assert.rejects(client.register({ registration: reg }), isStatus(Status.PERMISSION_DENIED));
      await assert.rejects(client.register({ registration: reg, secret: "wrong" }), isStatus(Status.PERMISSION_DENIED));
      const ok = await client.register({ registration: reg, secret: "s3cret" });
      assert.ok(ok.token.length > 0);
      assert.equal(
        (await client.register({ registration: { node: { nid: "sig-s", service: "sig" } } })).leaseMs,
        6000,
        "other services need none",
      );
    } finally {
      await nc.close();
      await islb.close();
      await ns.stop();
    }
  });

  test('a "*" secret is required of every service without its own: none is open', async () => {
    const ns = await startNatsServer();
    const islb = await startIslb(ns.url, { nid: "islb-s2", secrets: { rtc: "s3cret", "*": "any" } });
    const nc = await connect({ servers: ns.url });
    const client = createClient(ISLBDefinition, nc);
    try {
      const junk = { node: { nid: "junk-1", service: "junk0" } };
      await assert.rejects(client.register({ registration: junk }), isStatus(Status.PERMISSION_DENIED));
      assert.ok((await client.register({ registration: junk, secret: "any" })).token.length > 0);
      const rtc = { node: { nid: "sfu-s2", service: "rtc" } };
      await assert.rejects(client.register({ registration: rtc, secret: "any" }), isStatus(Status.PERMISSION_DENIED));
      assert.ok((await client.register({ registration: rtc, secret: "s3cret" })).token.length > 0, "its own wins");
    } finally {
      await nc.close();
      await islb.close();
      await ns.stop();
    }
  });

  test("ReleaseSession with the admin token (field or authorization metadata) releases any session; a wrong one is refused", async () => {
    const ns = await startNatsServer();
    const islb = await startIslb(ns.url, { nid: "islb-adm", adminToken: "op-secret" });
    const nc = await connect({ servers: ns.url });
    const client = createClient(ISLBDefinition, nc);
    const a = await startAgent(ns.url, "sfu-adm");
    try {
      for (const [i, how] of [{ adminToken: "op-secret" }, {}].entries()) {
        const sid = `room-adm-${i}`;
        assert.equal((await client.findNode({ service: "rtc", sid })).nodes[0]?.nid, "sfu-adm");
        await assert.rejects(
          client.releaseSession({ sid, service: "rtc", adminToken: "op-wrong" }),
          isStatus(Status.PERMISSION_DENIED),
        );
        assert.equal(await islb.store.sessionNode("rtc", sid), "sfu-adm");
        const metadata = Object.keys(how).length === 0 ? Metadata({ authorization: "Bearer op-secret" }) : undefined;
        await client.releaseSession({ sid, service: "rtc", ...how }, { metadata });
        assert.equal(await islb.store.sessionNode("rtc", sid), undefined);
      }
    } finally {
      await a.agent.stop();
      await a.nc.close();
      await nc.close();
      await islb.close();
      await ns.stop();
    }
  });

  test("the sample nats-server.conf: nodes register, clients look up but cannot register", async () => {
    const conf = fileURLToPath(new URL("../../../docs/nats-server.conf", import.meta.url));
    const ns = await startNatsServer({ args: ["-c", conf] });
    const closers: Array<() => Promise<unknown>> = [];
    try {
      const islb = await startIslb(
        { url: ns.url, user: "islb", pass: "change-me-islb", inboxPrefix: "_INBOX.islb" },
        { nid: "islb-1" },
      );
      closers.push(() => islb.close());
      const node = await connect({
        servers: ns.url,
        user: "sfu-1",
        pass: "change-me-sfu-1",
        inboxPrefix: "_INBOX.sfu-1",
      });
      closers.push(() => node.close());
      const user = await connect({
        servers: ns.url,
        user: "signal",
        pass: "change-me-signal",
        inboxPrefix: "_INBOX.signal",
      });
      closers.push(() => user.close());
      const asNode = createClient(ISLBDefinition, node);
      const asUser = createClient(ISLBDefinition, user);
      await asNode.register({ registration: { node: { nid: "sfu-1", service: "rtc" } } });
      assert.equal((await asUser.findNode({ service: "rtc", sid: "room" })).nodes[0]?.nid, "sfu-1");
      await assert.rejects(
        asUser.register({ registration: { node: { nid: "evil", service: "rtc" } } }, { deadline: 500 }),
        (e: unknown) => e instanceof ClientError,
      );
      assert.equal(
        (await asUser.findNode({ nid: "evil" })).nodes.length,
        0,
        "the client's registration never reached islb",
      );
    } finally {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      await ns.stop();
    }
  });
});

test("watch history bounded by age (watchHistory config): a resume from an aged-out revision gets RESET and a snapshot", async () => {
  const ns = await startNatsServer();
  const islb = await startIslb(ns.url, {
    nid: "islb-hist",
    watchHistory: { changes: 100_000, bytes: 16 * 1024 * 1024, ageMs: 300 },
  });
  const nc = await connect({ servers: ns.url });
  const client = createClient(ISLBDefinition, nc);
  try {
    const from = (await client.register({ registration: { node: { nid: "h-0", service: "hist" } } })).revision;
    await client.register({ registration: { node: { nid: "h-1", service: "hist" } } });
    const resume = async () => {
      const out: WatchEvent[] = [];
      for await (const e of client.watch({ service: "hist", fromRevision: from })) {
        out.push(e);
        if (e.type === WatchEvent_Type.TYPE_SYNCED) break;
      }
      return out.map((e) => e.type);
    };
    assert.deepEqual(await resume(), [WatchEvent_Type.TYPE_UP, WatchEvent_Type.TYPE_SYNCED], "still kept");
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(
      await resume(),
      [
        WatchEvent_Type.TYPE_RESET,
        WatchEvent_Type.TYPE_EXISTING,
        WatchEvent_Type.TYPE_EXISTING,
        WatchEvent_Type.TYPE_SYNCED,
      ],
      "aged out",
    );
  } finally {
    await nc.close();
    await islb.close();
    await ns.stop();
  }
});
