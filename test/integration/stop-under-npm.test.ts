/**
 * `islb serve` started through npm stops when npm goes away (src/cli/signals.ts), also when npm
 * goes before the server is up: the parent it watches is the one it started with, not the one
 * it has by then (init, once npm's shell is gone). A node script stands in for the server: it
 * loads the CLI's signal module, takes 1.5 s to "start", then asks to be told when to stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../helpers/procs.js";

const signals = new URL("../../src/cli/signals.js", import.meta.url).href;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("npm gone before the server is up: the server still stops once it is", async () => {
  const dir = mkdtempSync(join(tmpdir(), "islb-npm-stop-"));
  const script = join(dir, "server.mjs");
  writeFileSync(
    script,
    [
      `import { onStopRequest } from ${JSON.stringify(signals)};`,
      "console.log(`loaded ${process.pid}`);",
      "setInterval(() => {}, 1000);",
      "await new Promise((r) => setTimeout(r, 1500));",
      "onStopRequest((reason) => { console.log(`stop: ${reason}`); process.exit(0); });",
      "console.log('serving');",
    ].join("\n"),
  );
  // `; true`: the shell stays the node process's parent (npm runs bins under `sh -c`).
  const sh = run("sh", ["-c", `"${process.execPath}" "${script}"; true`], {
    cwd: dir,
    env: { ...process.env, npm_command: "exec" },
  });
  let pid = 0;
  try {
    await sh.waitFor(/loaded \d+/);
    pid = Number(/loaded (\d+)/.exec(sh.output())?.[1]);
    sh.child.kill("SIGKILL");
    const until = Date.now() + 10_000;
    while (Date.now() < until && alive(pid)) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(pid), false, `the server outlived its npm; output:\n${sh.output()}`);
    assert.match(sh.output(), /stop: parent exited/);
  } finally {
    if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
