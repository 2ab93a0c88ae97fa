/** The islb command as a person runs it: a real process against a real nats-server. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort, startNatsServer } from "../helpers/nats-server.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { Status } from "../../src/status.js";

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("islb nodes prints a table and JSON; errors exit non-zero with a reason; /metrics serves Prometheus text", async () => {
  const ns = await startNatsServer();
  const metricsPort = await freePort();
  const islb = await startIslb(ns.url, { nid: "islb-cli", http: `127.0.0.1:${metricsPort}` });
  const a = await startAgent(ns.url, "sfu-cli", { load: { sessions: 4 } });
  try {
    const t = await run(process.execPath, [MAIN, "nodes", "--nats", ns.url]);
    assert.match(t.stdout, /^NID\s+SERVICE/m);
    assert.match(t.stdout, /^sfu-cli\s+rtc\s+dc1\s+eu\s+serving/m);
    assert.match(t.stderr, /1 node at revision \d+/);
    const j = await run(process.execPath, [MAIN, "nodes", "rtc", "--json", "--nats", ns.url]);
    const doc = JSON.parse(j.stdout.trim().split("\n")[0] as string);
    assert.equal(doc.node.registration.node.nid, "sfu-cli");
    // A status is `ERROR: CODE: message` and exits 64 + code, as in every client command.
    await assert.rejects(
      run(process.execPath, [MAIN, "nodes", "--nats", ns.url, "--nid", "bad.nid"]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 64 + Status.INVALID_ARGUMENT && /^ERROR: INVALID_ARGUMENT: node id "bad\.nid"/.test(e.stderr ?? ""),
    );
    await assert.rejects(
      run(process.execPath, [MAIN, "nodes", "a.b", "--nats", ns.url]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 64 + Status.INVALID_ARGUMENT && /^ERROR: INVALID_ARGUMENT: service "a\.b"/.test(e.stderr ?? ""),
    );
    await assert.rejects(
      run(process.execPath, [MAIN, "nodes", "--nats", ns.url, "--nid", "nosuch"]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 64 + Status.UNAVAILABLE &&
        /^ERROR: UNAVAILABLE: no server is serving nrpc\.nosuch\./.test(e.stderr ?? ""),
    );
    let text = "";
    for (let i = 0; i < 20 && !/grpc_server_handled_total\{[^}]*grpc_method="Watch"/.test(text); i++) {
      text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(text, /islb_nodes\{service="rtc",region="eu",state="serving"\} 1/);
    assert.match(text, /grpc_server_handled_total\{[^}]*grpc_method="Register"[^}]*grpc_code="OK"[^}]*\} 1/);
    assert.match(text, /grpc_server_handled_total\{[^}]*grpc_method="Watch"/);
  } finally {
    await a.agent.stop();
    await a.nc.close();
    await islb.close();
    await ns.stop();
  }
});

test("islb watch: a refusal or nobody serving ends it with the status; a bad --from is a usage error", async () => {
  const ns = await startNatsServer();
  const islb = await startIslb(ns.url, { nid: "islb-wr" });
  // A watch that retried a permanent error would run until this timeout (killed: no exit code).
  const watch = (...args: string[]) =>
    run(process.execPath, [MAIN, "watch", ...args, "--nats", ns.url], { timeout: 20_000 }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? "" }),
    );
  try {
    const bad = await watch("a.b");
    assert.equal(bad.code, 64 + Status.INVALID_ARGUMENT, bad.stderr);
    assert.match(bad.stderr, /^ERROR: INVALID_ARGUMENT: service "a\.b"/);
    assert.doesNotMatch(bad.stderr, /resuming/);
    const nobody = await watch("--nid", "nosuch");
    assert.equal(nobody.code, 64 + Status.UNAVAILABLE, nobody.stderr);
    assert.match(nobody.stderr, /^ERROR: UNAVAILABLE: no server is serving nrpc\.nosuch\.islb\.ISLB\.Watch/);
    for (const from of ["abc", "-5", "1.5"]) {
      const r = await watch("--from", from);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^islb: --from must be a revision \(a whole number, 0 or more\), not "/);
    }
  } finally {
    await islb.close();
    await ns.stop();
  }
});

test("islb watch resumes when the islb it watches restarts", async () => {
  const { spawn } = await import("node:child_process");
  const ns = await startNatsServer();
  let islb = await startIslb(ns.url, { nid: "islb-w1" });
  const child = spawn(process.execPath, [MAIN, "watch", "--nats", ns.url], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const until = async (what: () => boolean, ms = 20_000): Promise<void> => {
    for (let t = 0; t < ms && !what(); t += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(what(), `stdout: ${out}\nstderr: ${err}`);
  };
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    await until(() => / synced$/m.test(out));
    await islb.close();
    await until(() => /watch interrupted \(.*UNAVAILABLE.*\); resuming from revision \d+/.test(err));
    islb = await startIslb(ns.url, { nid: "islb-w2" });
    agent = await startAgent(ns.url, "sfu-w");
    await until(() => / sfu-w \(rtc, dc1\)/.test(out));
    assert.equal(child.exitCode, null, "still watching");
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGINT");
    assert.equal(await exited, 130, "Ctrl-C ends the watch as shells report SIGINT");
  } finally {
    if (child.exitCode === null) {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
    await agent?.agent.stop();
    await agent?.nc.close();
    await islb.close();
    await ns.stop();
  }
});

test("make run's path: islb serve --start-nats starts a nats-server when none answers, and stops it on SIGTERM", async () => {
  const { spawn } = await import("node:child_process");
  const { connect } = await import("nats");
  const { createClient } = await import("../../src/index.js");
  const { ISLBDefinition } = await import("../../generated/islb/islb.js");
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [MAIN, "serve", "--start-nats", "--nats", url, "--nid", "islb-run", "--http", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += String(d)));
  try {
    for (let i = 0; i < 100 && !log.includes("islb serving"); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(log, /starting a local nats-server/);
    assert.match(log, /islb serving/);
    const nc = await connect({ servers: url });
    const r = await createClient(ISLBDefinition, nc).findNode({ service: "rtc" });
    assert.deepEqual(r.nodes, []);
    await nc.close();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    const { connect: netConnect } = await import("node:net");
    const refused = await new Promise<boolean>((resolve) => {
      const c = netConnect({ port, host: "127.0.0.1" });
      c.once("connect", () => {
        c.destroy();
        resolve(false);
      });
      c.once("error", () => resolve(true));
    });
    assert.ok(refused, "the nats-server it started is gone");
  } finally {
    child.kill("SIGKILL");
  }
});
