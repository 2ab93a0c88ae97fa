/**
 * The composition root: startIslb builds a whole islb and close() stops it in reverse; a start
 * that fails halfway (metrics port taken, Redis gone) stops what it had started: no NATS or
 * Redis connection, subscription or timer is left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createTcpServer, type Server } from "node:net";
import { connect } from "nats";
import { Redis } from "ioredis";
import { defaults, type Config } from "../../src/app/config.js";
import { startIslb } from "../../src/app/islb.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { ClientError, Status, createClient } from "../../src/index.js";
import { freePort, startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";
import { redisConfig } from "../helpers/islb.js";

/** Connections the nats-server sees (its monitoring endpoint). */
async function connz(monitor: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${monitor}/connz`);
  return ((await r.json()) as { num_connections: number }).num_connections;
}

/**
 * The connections nats-server counts, once the count settles on `expected` (the server notes a
 * closed connection a moment after the client is done with it) or after 2 s.
 */
async function natsConnections(monitor: number, expected = 0): Promise<number> {
  const until = Date.now() + 2000;
  let n = await connz(monitor);
  while (n !== expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    n = await connz(monitor);
  }
  return n;
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

async function withNats<T>(body: (url: string, monitor: number) => Promise<T>): Promise<T> {
  const monitor = await freePort();
  const ns = await startNatsServer({ args: ["-m", String(monitor)] });
  try {
    return await body(ns.url, monitor);
  } finally {
    await ns.stop();
  }
}

const config = (url: string, over: Partial<Config> = {}): Config => ({
  ...defaults(),
  http: "127.0.0.1:0",
  ...over,
  nats: { url },
});

test("a start whose metrics listener fails stops what it had started: NATS connection, subscriptions, timers", async () => {
  await withNats(async (url, monitor) => {
    const taken: Server = createTcpServer();
    await new Promise<void>((r) => taken.listen(0, "0.0.0.0", () => r()));
    const port = (taken.address() as { port: number }).port;
    const rs = await startRedisServer();
    const admin = new Redis(rs.url);
    try {
      const timersBefore = timers();
      for (const redis of [undefined, redisConfig(rs.url)]) {
        await assert.rejects(
          startIslb(config(url, { nid: "islb-fail", http: `127.0.0.1:${port}`, redis })),
          /cannot listen for HTTP on 127\.0\.0\.1:\d+/,
        );
        assert.ok(
          await eventually(() => timers() <= timersBefore, 2000),
          `timers left running: ${timers()} > ${timersBefore}`,
        );
        assert.equal(await natsConnections(monitor), 0, "no NATS connection left open");
        const clients = String(await admin.client("LIST"))
          .trim()
          .split("\n").length;
        assert.equal(clients, 1, "no Redis connection left open but this test's own");
      }
    } finally {
      admin.disconnect();
      taken.close();
      await rs.stop();
    }
  });
});

test("close() stops everything; an instance serving on the caller's connection leaves it open", async () => {
  await withNats(async (url, monitor) => {
    const timersBefore = timers();
    const islb = await startIslb(config(url, { nid: "islb-ok" }));
    assert.equal(await natsConnections(monitor, 1), 1);
    await islb.close();
    await islb.close(); // twice is harmless
    assert.equal(await natsConnections(monitor), 0);
    assert.ok(
      await eventually(() => timers() <= timersBefore, 2000),
      `timers left running: ${timers()} > ${timersBefore}`,
    );

    const nc = await connect({ servers: url });
    try {
      const embedded = await startIslb(config(url, { nid: "islb-emb" }), { nc });
      const client = createClient(ISLBDefinition, nc);
      assert.deepEqual((await client.findNode({ service: "none" })).nodes, []);
      await embedded.close();
      assert.equal(nc.isClosed(), false, "the caller's connection stays open");
      await assert.rejects(
        client.findNode({ service: "none" }, { deadline: 2000 }),
        (e: unknown) => e instanceof ClientError && e.code === Status.UNAVAILABLE,
        "nothing answers after close",
      );
    } finally {
      await nc.close();
    }
  });
});
