/** The islb command as a person runs it: a real process against a real nats-server. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort, startNatsServer } from "../helpers/nats-server.js";
import { startAgent, startIslb } from "../helpers/islb.js";

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("islb nodes prints a table and JSON; errors exit non-zero with a reason; /metrics serves Prometheus text", async () => {
  const ns = await startNatsServer();
  const metricsPort = await freePort();
  const islb = await startIslb(ns.url, { nid: "islb-cli", metricsPort });
  const a = await startAgent(ns.url, "sfu-cli", { load: { sessions: 4 } });
  try {
    const t = await run(process.execPath, [MAIN, "nodes", "--nats", ns.url]);
    assert.match(t.stdout, /^NID\s+SERVICE/m);
    assert.match(t.stdout, /^sfu-cli\s+rtc\s+dc1\s+eu\s+serving/m);
    assert.match(t.stderr, /1 node at revision \d+/);
    const j = await run(process.execPath, [MAIN, "nodes", "rtc", "--json", "--nats", ns.url]);
    const doc = JSON.parse(j.stdout.trim().split("\n")[0] as string);
    assert.equal(doc.node.registration.node.nid, "sfu-cli");
    await assert.rejects(run(process.execPath, [MAIN, "nodes", "--nats", ns.url, "--nid", "bad.nid"]), (e: { code?: number; stderr?: string }) => e.code === 1 && /INVALID_ARGUMENT/.test(e.stderr ?? ""));
    let text = "";
    for (let i = 0; i < 20 && !/grpc_server_handled_total\{[^}]*grpc_method="Watch"/.test(text); i++) {
      text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(text, /islb_nodes\{service="rtc",state="serving"\} 1/);
    assert.match(text, /grpc_server_handled_total\{[^}]*grpc_method="Register"[^}]*grpc_code="OK"[^}]*\} 1/);
    assert.match(text, /grpc_server_handled_total\{[^}]*grpc_method="Watch"/);
  } finally {
    await a.agent.stop();
    await a.nc.close();
    await islb.close();
    await ns.stop();
  }
});
