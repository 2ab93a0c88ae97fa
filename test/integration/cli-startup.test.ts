/** `islb serve` and `islb gateway` as a person starts them: the embedded gateway's prefix, and start-up mistakes named. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort, startNatsServer } from "../helpers/nats-server.js";
import { serveWithGateway, stopChild } from "../helpers/serve-gateway.js";

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Runs the CLI to its end (20 s at most: a start-up mistake must not leave it serving). */
async function islbCli(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  try {
    const r = await run(process.execPath, [MAIN, ...args], { timeout: 20_000 });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number | null; stderr: string };
    return { code: x.code, stderr: x.stderr };
  }
}

test("islb serve --prefix P --gateway: the embedded gateway carries calls under P", async () => {
  const ns = await startNatsServer();
  const { child, gatewayAt } = await serveWithGateway(["--nats", ns.url, "--prefix", "px", "--nid", "islb-px"]);
  try {
    // Connect's unary JSON: islb's own answer (NOT_FOUND: no node) shows the call reached it under px.
    const r = await fetch(`http://${gatewayAt}/islb.ISLB/FindNode`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "rtc", sid: "room-px" }),
    });
    const body = (await r.json()) as { code?: string; message?: string };
    assert.equal(body.code, "not_found", JSON.stringify(body));
    assert.match(body.message ?? "", /no node of service rtc is registered/);
  } finally {
    await stopChild(child);
    await ns.stop();
  }
});

test("start-up mistakes of serve and gateway: the flag, the URL, the valid values", async () => {
  const ns = await startNatsServer();
  const nowhere = `nats://127.0.0.1:${await freePort()}`;
  try {
    const listen = await islbCli("serve", "--nats", ns.url, "--http", "off", "--gateway", "bogus");
    assert.equal(listen.code, 1);
    assert.match(listen.stderr, /^islb: --gateway must be HOST:PORT, not "bogus"$/m);
    for (const cmd of [["serve", "--http", "off"], ["gateway"]]) {
      const r = await islbCli(...cmd, "--nats", nowhere);
      assert.equal(r.code, 1, `${cmd[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^islb: cannot connect to NATS at ${nowhere}: CONNECTION_REFUSED$`, "m"));
    }
    const level = await islbCli("gateway", "--nats", ns.url, "--log-level", "bogus");
    assert.equal(level.code, 1);
    assert.match(
      level.stderr,
      /^islb: config: --log-level must be one of trace, debug, info, warn, error, fatal, silent, not "bogus"$/m,
    );
    for (const [allow, why] of [
      ["bad..x", /--allow service "bad\.\.x" must be dot-separated tokens/],
      ["islb.ISLB/Find.Node", /--allow method "Find\.Node" must not contain '\.'/],
      ["pkg..*", /--allow package "pkg\." must be dot-separated tokens/],
    ] as const) {
      const r = await islbCli("gateway", "--nats", ns.url, "--listen", "127.0.0.1:0", "--allow", allow);
      assert.equal(r.code, 1, `${allow}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
  } finally {
    await ns.stop();
  }
});
