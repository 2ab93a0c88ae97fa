/** The nats-server launcher of the tests fails fast with the reason, and never races for a port. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startNatsServer } from "../helpers/nats-server.js";

test("a missing nats-server binary fails at once, saying so", async () => {
  const was = process.env.NATS_SERVER_BIN;
  process.env.NATS_SERVER_BIN = "/nonexistent/nats-server";
  const t0 = Date.now();
  try {
    await assert.rejects(startNatsServer(), /cannot start \/nonexistent\/nats-server: .*ENOENT.*installed/);
  } finally {
    if (was === undefined) delete process.env.NATS_SERVER_BIN;
    else process.env.NATS_SERVER_BIN = was;
  }
  assert.ok(Date.now() - t0 < 2000, "not after waiting for a port");
});

test("a nats-server that exits before it listens fails at once with its last words", async () => {
  const t0 = Date.now();
  await assert.rejects(
    startNatsServer({ args: ["-c", "/nonexistent/islb.conf"] }),
    /nats-server exited .* before it listened: .*nonexistent/,
  );
  assert.ok(Date.now() - t0 < 5000);
});

test("servers started together pick their own ports (no free-port race) and keep them on restart", async () => {
  const servers = await Promise.all(Array.from({ length: 4 }, () => startNatsServer()));
  try {
    assert.equal(new Set(servers.map((s) => s.port)).size, 4);
    const s = servers[0] as (typeof servers)[number];
    const port = s.port;
    await s.restart();
    assert.equal(s.port, port);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});
