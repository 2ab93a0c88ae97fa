/**
 * A Redis store that stalls (SIGSTOP), dies or was never there: health follows within 1 s,
 * calls that need the store are UNAVAILABLE (never UNKNOWN, never held), errors are logged
 * once per change of state (no ioredis stack traces), and a start without Redis says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { ClientError, Status, createClient } from "../../src/index.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { ServingStatus } from "../../src/health/health.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";
import { redisConfig, startAgent, startIslb } from "../helpers/islb.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Milliseconds until `cond` holds (polled every 5 ms), or Infinity after `ms`. */
async function timeUntil(cond: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (cond()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
  }
  return Infinity;
}

test("health says NOT_SERVING within 1 s of Redis stalling (SIGSTOP) and SERVING within 1 s of its return", async (t) => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const islb = await startIslb(ns.url, { nid: "islb-h", redis: redisConfig(rs.url) });
  try {
    assert.equal(islb.health.get(""), ServingStatus.SERVING);
    for (let round = 0; round < 3; round++) {
      // Let a few probes pass first, so the stall lands at a random point of the probe cycle.
      await new Promise((r) => setTimeout(r, 300 + round * 170));
      rs.pause();
      const down = await timeUntil(() => islb.health.get("") === ServingStatus.NOT_SERVING, 3000);
      assert.equal(islb.health.get("islb.ISLB"), ServingStatus.NOT_SERVING);
      rs.resume();
      const up = await timeUntil(() => islb.health.get("") === ServingStatus.SERVING, 3000);
      t.diagnostic(`round ${round}: NOT_SERVING after ${down.toFixed(0)} ms, SERVING after ${up.toFixed(0)} ms`);
      assert.ok(down <= 1000, `round ${round}: NOT_SERVING after ${down.toFixed(0)} ms`);
      assert.ok(up <= 1000, `round ${round}: SERVING again after ${up.toFixed(0)} ms`);
    }
  } finally {
    rs.resume();
    await islb.close();
    await rs.stop();
    await ns.stop();
  }
});

test("while Redis stalls or is gone, store calls are UNAVAILABLE within ~1 s; lookups of known nodes still answer", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const islb = await startIslb(ns.url, { nid: "islb-u", redis: redisConfig(rs.url) });
  const a = await startAgent(ns.url, "sfu-u", {}, { leaseMs: 30_000 });
  const nc = await connect({ servers: ns.url });
  const client = createClient(ISLBDefinition, nc);
  const unavailable = (e: unknown) =>
    e instanceof ClientError &&
    e.code === Status.UNAVAILABLE &&
    /Redis store at redis:\/\/127\.0\.0\.1:\d+/.test(e.details);
  try {
    assert.ok(await eventually(() => islb.store.view.get("sfu-u") !== undefined));
    for (const how of ["stalled", "gone"] as const) {
      if (how === "stalled") rs.pause();
      else await rs.kill();
      const t0 = Date.now();
      await assert.rejects(
        client.findNode({ service: "rtc", sid: `room-${how}` }, { deadline: 5000 }),
        unavailable,
        `a new session while Redis is ${how}`,
      );
      const took = Date.now() - t0;
      assert.ok(took <= 2000, `UNAVAILABLE after ${took} ms (${how})`);
      await assert.rejects(
        client.heartbeat({ nid: "sfu-u", token: "t" }, { deadline: 5000 }),
        unavailable,
        `a heartbeat while Redis is ${how}`,
      );
      assert.equal((await client.findNode({ nid: "sfu-u" })).nodes.length, 1, "the view still answers");
      if (how === "stalled") rs.resume();
      else await rs.restart();
      assert.ok(await eventually(() => islb.health.get("") === ServingStatus.SERVING, 5000));
    }
  } finally {
    rs.resume();
    await a.agent.stop();
    await a.nc.close();
    await nc.close();
    await islb.close();
    await rs.stop();
    await ns.stop();
  }
});

test("islb serve logs a lost Redis once per change of state, through the logger, with no ioredis stack traces", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const child = spawn(
    process.execPath,
    [MAIN, "serve", "--nats", ns.url, "--redis", rs.url, "--nid", "islb-log", "--http", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  try {
    assert.ok(await eventually(() => out.includes("islb serving"), 10_000), out + err);
    await rs.kill();
    await new Promise((r) => setTimeout(r, 3000)); // ioredis reconnects (and fails) many times in 3 s
    await rs.restart();
    assert.ok(await eventually(() => out.includes("reachable again"), 5000), out);
    const lines = out.split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.filter((l) => l.includes("redis store unreachable")).length, 1, lines.join("\n"));
    assert.equal(lines.filter((l) => l.includes("still unreachable")).length, 0, "no reminder within the first 5 s");
    assert.ok(
      lines.every((l) => l.startsWith("{")),
      "every log line is structured",
    );
    assert.doesNotMatch(err, /Unhandled error event|ECONNREFUSED/, "nothing from ioredis on stderr");
  } finally {
    // Bounded: islb serve exits within its drain and stop grace (15 s); it may have exited already.
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve(true)
        : new Promise<boolean>((r) => {
            child.once("exit", () => r(true));
            setTimeout(() => r(false), 20_000).unref();
          });
    child.kill("SIGTERM");
    const ok = await exited;
    if (!ok) child.kill("SIGKILL");
    await rs.stop();
    await ns.stop();
    assert.ok(
      ok,
      `islb serve did not exit within 20 s of SIGTERM; its output:\n${out.slice(-3000)}${err.slice(-2000)}`,
    );
  }
});

test("islb serve with a Redis that cannot be reached exits non-zero, naming Redis and its address", async () => {
  const ns = await startNatsServer();
  try {
    const child = spawn(
      process.execPath,
      [MAIN, "serve", "--nats", ns.url, "--redis", "redis://127.0.0.1:1", "--http", "127.0.0.1:0"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /Redis store at redis:\/\/127\.0\.0\.1:1/);
    assert.doesNotMatch(err, /^islb: Connection is closed\.$/m);
  } finally {
    await ns.stop();
  }
});
