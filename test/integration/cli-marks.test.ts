/** `islb cordon|uncordon|drain|place` as an operator runs them: a real process, a real nats-server, an islb with an admin token. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startNatsServer } from "../helpers/nats-server.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { eventually } from "../helpers/setup.js";
import { Status } from "../../src/status.js";

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("islb cordon / uncordon / drain / place --explain / place --overflow", async () => {
  const ns = await startNatsServer();
  const islb = await startIslb(ns.url, { nid: "islb-cm", adminToken: "t0p" });
  const a = await startAgent(ns.url, "cm-1", {}, { load: () => ({ sessions: 1 }) });
  const b = await startAgent(ns.url, "cm-2", {}, { load: () => ({ sessions: 3 }) });
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, [MAIN, ...args, "--nats", ns.url], { env: { ...process.env, ...env } });
  try {
    assert.ok(
      await eventually(
        () => islb.store.view.get("cm-2")?.load.sessions === 3 && islb.store.view.get("cm-1")?.load.sessions === 1,
      ),
    );
    await assert.rejects(
      cli(["cordon", "cm-1"]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 64 + Status.PERMISSION_DENIED &&
        /PERMISSION_DENIED: cordoning a node needs the admin token/.test(e.stderr ?? ""),
    );
    const c = await cli(["cordon", "cm-1", "--reason", "maintenance", "--by", "carol"], { ISLB_ADMIN_TOKEN: "t0p" });
    assert.match(c.stdout, /^cm-1 cordoned: cordoned \(by carol \(admin\); maintenance\) at revision \d+/);
    const nodes = await cli(["nodes"]);
    assert.match(nodes.stdout, /^cm-1\s+rtc\s+dc1\s+eu\s+cordoned\s.*by carol \(admin\); maintenance$/m);
    assert.match(nodes.stdout, /^cm-2\s+rtc\s+dc1\s+eu\s+serving\s/m);
    const p = await cli(["place", "rtc", "--sid", "room-x", "--region", "eu", "--explain"]);
    const lines = p.stdout.split("\n");
    assert.equal(lines[0], "cm-2");
    assert.match(lines[1] ?? "", /^outcome placed: cm-2; measure sessions; home zone eu \(picked from home\)/);
    assert.match(p.stdout, /^\*\s+cm-2\s+eu\s+home\s+under\s+3\.000\s+0\s+[\d.]+s\s+under its limits$/m);
    assert.match(p.stdout, /^\s+cm-1\s+eu\s+home\s+closed\s+[\d.]+\s+0\s+[\d.]+s\s+cordoned by carol: maintenance$/m);
    const j = JSON.parse((await cli(["place", "rtc", "--sid", "room-x", "--explain", "--json"])).stdout);
    assert.equal(j.explanation.outcome, "known");
    assert.equal(j.explanation.host, "cm-2");
    const u = await cli(["uncordon", "cm-1", "--admin-token", "t0p"]);
    assert.match(u.stdout, /^cm-1 uncordoned: serving at revision/);
    // A session that spans nodes: its set grows when the caller says its join node is full.
    const o1 = await cli(["place", "rtc", "--sid", "big", "--overflow"]);
    const first = o1.stdout.trim();
    assert.match(o1.stderr, new RegExp(`^set: ${first} \\(revision 0\\)$`, "m"));
    const o2 = await cli(["place", "rtc", "--sid", "big", "--overflow", "--full", first]);
    const [join, ...rest] = o2.stdout.trim().split("\n");
    assert.deepEqual(rest, [first]);
    assert.match(o2.stderr, new RegExp(`^set: ${first} ${join} \\(revision 1\\)$`, "m"));
    await assert.rejects(
      cli(["place", "rtc", "--sid", "big", "--full", first]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 1 && /--full and --max-nodes go with --overflow/.test(e.stderr ?? ""),
    );
    await assert.rejects(
      cli(["drain", "cm-1", "--deadline", "soon", "--admin-token", "t0p"]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 1 && /--deadline "soon" is not a duration/.test(e.stderr ?? ""),
    );
    await assert.rejects(
      cli(["drain", "cm-1", "--cancel", "--deadline", "1m", "--admin-token", "t0p"]),
      (e: { code?: number; stderr?: string }) =>
        e.code === 1 && /^islb: --cancel and --deadline do not go together$/m.test(e.stderr ?? ""),
    );
    assert.equal(islb.store.view.get("cm-1")?.mark, undefined, "nothing sent");
    const d = await cli(["drain", "cm-1", "--deadline", "10m", "--admin-token", "t0p"]);
    assert.match(d.stdout, /^cm-1 draining: draining \(by .*\(admin\); deadline in (599|600)s\)/);
    assert.equal(islb.store.view.get("cm-1")?.mark?.kind, "draining");
    const x = await cli(["drain", "cm-1", "--cancel", "--admin-token", "t0p"]);
    assert.match(x.stdout, /^cm-1 drain cancelled: serving/);
    assert.equal(islb.store.view.get("cm-1")?.mark, undefined);
  } finally {
    for (const n of [a, b]) {
      await n.agent.stop();
      await n.nc.close();
    }
    await islb.close();
    await ns.stop();
  }
});
