/**
 * Operating islb over its HTTP listener, from outside: /healthz, /readyz flipping with Redis
 * stopped (SIGSTOP) and back within 1 s and agreeing with grpc.health.v1, /metrics parsed as
 * Prometheus text, and the live cluster page in headless Chromium showing a node come and go.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import {
  HealthDefinition,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../generated/grpc/health/v1/health.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { createClient } from "../../src/index.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const OUT = fileURLToPath(new URL("../../../.tmp/", import.meta.url));

async function json(url: string): Promise<{ status: number; body: Record<string, any> }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

/** Polls `url` until it answers `status`; the time it took, in ms. */
async function until(url: string, status: number, ms = 3000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await fetch(url)).status === status) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${url} did not answer ${status} within ${ms} ms`);
}

test("healthz, readyz with Redis stopped and back (within 1 s, as grpc.health.v1 says), metrics parsed", async () => {
  const ns = await startNatsServer();
  const redis = await startRedisServer();
  const islb = await startIslb(ns.url, { nid: "islb-ops", redis: redisConfig(redis.url) });
  const nc = await connect({ servers: ns.url });
  const a = await startAgent(ns.url, "sfu-ops", {
    load: { cpu: 0.25, sessions: 3, tracks: 9, bandwidthIn: 0, bandwidthOut: 0 },
  });
  const base = islb.http?.url as string;
  const health = createClient(HealthDefinition, nc);
  try {
    const h = await json(`${base}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, "ok");
    const r = await json(`${base}/readyz`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body.checks), ["nats", "store", "view"]);
    assert.equal((await health.check({ service: "" })).status, Serving.SERVING);

    redis.pause();
    const down = await until(`${base}/readyz`, 503);
    const nr = await json(`${base}/readyz`);
    assert.match(nr.body.reason, /store: the Redis store at 127\.0\.0\.1:\d+ does not answer/);
    assert.equal((await health.check({ service: "" })).status, Serving.NOT_SERVING, "grpc.health.v1 agrees");
    assert.equal((await json(`${base}/healthz`)).status, 200, "still alive while not ready");
    redis.resume();
    const up = await until(`${base}/readyz`, 200);
    assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
    assert.ok(down <= 1000, `/readyz said 503 after ${down} ms`);
    assert.ok(up <= 1000, `/readyz said 200 again after ${up} ms`);
    console.log(`readyz: 503 ${down} ms after SIGSTOP of redis-server, 200 ${up} ms after SIGCONT`);

    const islbClient = createClient(ISLBDefinition, nc);
    await islbClient.findNode({ service: "rtc", sid: "room-1" });
    await islbClient.findNode({ service: "rtc", sid: "room-1" });
    await assert.rejects(islbClient.findNode({ service: "nope", sid: "room-2" }));
    const families = parsePrometheusTextFormat(await (await fetch(`${base}/metrics`)).text());
    const byName = new Map(families.map((f) => [f.name, f]));
    const sample = (name: string, labels: Record<string, string> = {}): number | undefined => {
      const f = byName.get(name);
      const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
      return m === undefined ? undefined : Number(m.value ?? m.count);
    };
    for (const name of [
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_seconds",
      "islb_info",
      "grpc_server_handled_total",
      "islb_store_ping_seconds",
    ])
      assert.ok(byName.has(name), `${name} is exported`);
    assert.equal(byName.get("islb_store_ping_seconds")?.type, "HISTOGRAM");
    assert.equal(sample("islb_nats_connected"), 1);
    assert.equal(sample("islb_store_up"), 1);
    assert.equal(sample("islb_placements_total", { service: "rtc", outcome: "new" }), 1);
    assert.equal(sample("islb_placements_total", { service: "rtc", outcome: "known" }), 1);
    assert.equal(sample("islb_nodes", { service: "rtc", region: "eu", state: "serving" }), 1);
    assert.equal(sample("islb_node_load", { nid: "sfu-ops", figure: "sessions" }), 3);
    assert.equal(sample("islb_service_load", { service: "rtc", region: "eu", figure: "tracks" }), 9);
    assert.ok((sample("islb_registry_changes_total", { type: "up" }) ?? 0) >= 1);
    const ac = new AbortController();
    const watching = (async () => {
      try {
        for await (const _ of islbClient.watch({ service: "rtc" }, { signal: ac.signal }));
      } catch {
        /* aborted */
      }
    })();
    let open = 0;
    for (let i = 0; i < 50 && open !== 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      open = Number(
        parsePrometheusTextFormat(await (await fetch(`${base}/metrics`)).text()).find(
          (f) => f.name === "islb_watch_streams",
        )?.metrics[0]?.value,
      );
    }
    assert.equal(open, 1, "one Watch stream open");
    ac.abort();
    await watching;
  } finally {
    redis.resume();
    await a.agent.stop();
    await a.nc.close();
    await nc.close();
    await islb.close();
    await redis.stop();
    await ns.stop();
  }
});

test(
  "the cluster page in headless Chromium: a node appears within 2 s of registering and is gone after it is killed",
  { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (make test installs Debian's chromium)` },
  async () => {
    const { chromium } = await import("playwright-core");
    const ns = await startNatsServer();
    const islb = await startIslb(ns.url, { nid: "islb-page", dc: "dc1" });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    // A few nodes of two services in two regions, at different loads, one draining: what a
    // person looks at in the screenshot.
    const limits = {
      softLimits: { cpu: 0.7, sessions: 30, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      hardLimits: { cpu: 0.9, sessions: 40, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
    };
    const load = (cpu: number) => ({
      cpu,
      sessions: Math.round(cpu * 40),
      tracks: Math.round(cpu * 300),
      bandwidthIn: Math.round(cpu * 4e8),
      bandwidthOut: 0,
    });
    const others = [];
    for (const [nid, region, cpu, service] of [
      ["sfu-steady", "eu-west", 0.42, "rtc"],
      ["sfu-eu-2", "eu-west", 0.78, "rtc"],
      ["sfu-us-1", "us-east", 0.15, "rtc"],
      ["sfu-us-2", "us-east", 0.93, "rtc"],
      ["signal-eu-1", "eu-west", 0.2, "signal"],
    ] as const) {
      others.push(
        await startAgent(ns.url, nid, {
          region,
          load: load(cpu),
          ...limits,
          node: { nid, service, dc: region, rpc: { protocol: "nats-grpc", addr: ns.url } },
        }),
      );
    }
    await (others[1] as { agent: { drain(): Promise<void> } }).agent.drain();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await page.goto(`${islb.http?.url}/`);
      await page.waitForSelector("tr[data-nid='sfu-steady']", { timeout: 5000 });
      await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: 5000 });
      const t0 = Date.now();
      child = spawn(
        process.execPath,
        [fileURLToPath(new URL("../helpers/child-agent.js", import.meta.url)), ns.url, "sfu-victim", "1500"],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      await page.waitForSelector("tr[data-nid='sfu-victim']", { timeout: 2000 });
      const appeared = Date.now() - t0;
      assert.ok(appeared <= 2000, `the node appeared after ${appeared} ms`);
      mkdirSync(OUT, { recursive: true });
      await page.screenshot({ path: `${OUT}cluster-page.png` });
      console.log(
        `cluster page: node shown ${appeared} ms after its process started; screenshot at ${OUT}cluster-page.png`,
      );
      child.kill("SIGKILL");
      const t1 = Date.now();
      await page.waitForSelector("tr[data-nid='sfu-victim']", { state: "detached", timeout: 1500 + 2000 });
      const gone = Date.now() - t1;
      const change = await page.locator("#changes li", { hasText: "sfu-victim" }).first().textContent();
      assert.match(change ?? "", /expired/);
      assert.ok(await page.locator("tr[data-nid='sfu-steady']").isVisible(), "the other node stays");
      console.log(`cluster page: node gone ${gone} ms after kill -9 (lease 1500 ms)`);
    } finally {
      child?.kill("SIGKILL");
      await browser.close();
      for (const o of others) {
        await o.agent.stop();
        await o.nc.close();
      }
      await islb.close();
      await ns.stop();
    }
  },
);
