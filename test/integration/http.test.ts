/** islb's HTTP listener on its own: probes, metrics, the page and its event feed, over real sockets. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { Registry, Counter } from "prom-client";
import { ClusterFeed } from "../../src/http/events.js";
import { parseListen } from "../../src/http/listen-address.js";
import { LoopMonitor, type ReadinessCheck } from "../../src/http/probes.js";
import { startHttp } from "../../src/http/server.js";
import { MemoryStore } from "../../src/registry/memory.js";
import { toRecord } from "../../src/registry/records.js";
import { NodeState } from "../../src/registry/types.js";

const Z = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
const rec = (nid: string, sessions = 0) =>
  toRecord(
    {
      node: { nid, service: "rtc", dc: "dc1", rpc: undefined },
      state: NodeState.NODE_STATE_SERVING,
      region: "eu",
      load: { ...Z, sessions },
      softLimits: { ...Z, sessions: 10 },
      hardLimits: { ...Z, sessions: 20 },
    },
    6000,
    Date.now(),
  );

function get(url: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** Reads server-sent events from `url` until `until` says stop; returns them. */
function events(
  url: string,
  until: (evs: Array<{ event: string; data: any }>) => boolean,
  ms = 3000,
): Promise<Array<{ event: string; data: any }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ event: string; data: any }> = [];
    let buf = "";
    const timer = setTimeout(
      () => (
        req.destroy(),
        reject(new Error(`events: only ${JSON.stringify(got.map((e) => e.event))} within ${ms} ms`))
      ),
      ms,
    );
    const req = request(url, (res) => {
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev !== undefined && data !== undefined) got.push({ event: ev, data: JSON.parse(data) });
        }
        if (until(got)) {
          clearTimeout(timer);
          req.destroy();
          resolve(got);
        }
      });
    });
    req.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
    req.end();
  });
}

test("listen addresses: host:port, [v6]:port, a bare port on loopback; bad ones say why", () => {
  assert.deepEqual(parseListen("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("[::1]:80"), { host: "::1", port: 80 });
  assert.deepEqual(parseListen("9464"), { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("0.0.0.0:1"), { host: "0.0.0.0", port: 1 });
  assert.throws(() => parseListen("localhost"), /not HOST:PORT/);
  assert.throws(() => parseListen("h:99999"), /port must be/);
});

test("healthz, readyz flipping with its source, metrics, 404 and 405, the page and its live feed", async () => {
  const store = new MemoryStore();
  const live = new LoopMonitor();
  let checks: ReadinessCheck[] = [
    { name: "nats", ok: true },
    { name: "store", ok: true },
  ];
  const registry = new Registry();
  new Counter({ name: "islb_test_total", help: "a test counter", registers: [registry] }).inc(3);
  const feed = new ClusterFeed(store.view, { self: { nid: "islb-t", dc: "dc1" } });
  const http = await startHttp({ listen: "127.0.0.1:0", live, ready: () => checks, metrics: registry, feed });
  try {
    const h = await get(`${http.url}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(JSON.parse(h.body).status, "ok");
    assert.equal((await get(`${http.url}/readyz`)).status, 200);
    checks = [
      { name: "nats", ok: true },
      { name: "store", ok: false, detail: "redis 127.0.0.1:1 does not answer" },
    ];
    const r = await get(`${http.url}/readyz`);
    assert.equal(r.status, 503);
    assert.match(JSON.parse(r.body).reason, /store: redis 127.0.0.1:1 does not answer/);
    const m = await get(`${http.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.body, /^islb_test_total 3$/m);
    assert.equal((await get(`${http.url}/nope`)).status, 404);
    assert.equal((await get(`${http.url}/readyz`, "POST")).status, 405);
    const page = await get(`${http.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /new EventSource\("events"\)/);
    assert.doesNotMatch(page.body, /<script[^>]+src=/, "the page loads no script from elsewhere");

    await store.register(rec("sfu-1", 3), "t");
    const feedDone = events(`${http.url}/events`, (evs) =>
      evs.some((e) => e.event === "batch" && e.data.removed.includes("sfu-1")),
    );
    await new Promise((r) => setTimeout(r, 100));
    await store.register(rec("sfu-2"), "t2");
    await store.deregister("sfu-1", "t");
    const evs = await feedDone;
    const snap = evs[0] as { event: string; data: any };
    assert.equal(snap.event, "snapshot");
    assert.deepEqual(
      snap.data.nodes.map((n: { nid: string }) => n.nid),
      ["sfu-1"],
    );
    assert.equal(snap.data.nodes[0].load.sessions, 3);
    assert.equal(snap.data.nodes[0].hard.sessions, 20);
    assert.equal(snap.data.self.nid, "islb-t");
    const batches = evs.filter((e) => e.event === "batch").map((e) => e.data);
    assert.ok(
      batches.some((b) => b.nodes.some((n: { nid: string }) => n.nid === "sfu-2")),
      "sfu-2 came up on the feed",
    );
    const kinds = batches.flatMap((b) => b.changes.map((c: { type: string; nid: string }) => `${c.type} ${c.nid}`));
    assert.deepEqual(kinds, ["up sfu-2", "down sfu-1"]);
  } finally {
    feed.close();
    live.close();
    await http.close();
    await store.close();
  }
});

test("a page that does not read is held to the latest record of each node, not every heartbeat", async () => {
  const store = new MemoryStore();
  const live = new LoopMonitor();
  const feed = new ClusterFeed(store.view, { self: {} });
  const http = await startHttp({ listen: "127.0.0.1:0", live, ready: () => [], metrics: new Registry(), feed });
  const { connect } = await import("node:net");
  const url = new URL(http.url);
  const sock = connect(Number(url.port), url.hostname);
  await new Promise((r) => sock.once("connect", r));
  sock.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
  sock.pause(); // never reads
  try {
    for (let i = 0; i < 50; i++) await store.register(rec(`sfu-${i}`), `t${i}`);
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 50; i++)
        await store.heartbeat(
          `sfu-${i}`,
          `t${i}`,
          { load: { ...Z, sessions: round }, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
          undefined,
        );
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    // 20,000 heartbeats of 50 nodes: the socket's buffers fill and then the feed keeps at most
    // one record per node (and the bounded change list) for it.
    const held = (
      feed as unknown as { clients: Set<{ nodes: Map<string, unknown>; changes: unknown[]; blocked: boolean }> }
    ).clients;
    assert.equal(held.size, 1);
    for (const c of held) {
      assert.equal(c.blocked, true, "the socket filled up (else this test shows nothing)");
      assert.ok(c.nodes.size <= 50, `held ${c.nodes.size} records`);
      assert.ok(c.changes.length <= 200);
    }
  } finally {
    sock.destroy();
    feed.close();
    live.close();
    await http.close();
    await store.close();
  }
});
