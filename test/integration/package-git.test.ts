/**
 * islb installed from a git URL, as `npm install git+https://…` does it: npm clones the
 * commit, installs its dev dependencies, runs `prepare` (the build) and packs it with `files`.
 * Here the URL is this checkout's HEAD (git+file://), installed with no network.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installOffline } from "../helpers/pack.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

test("npm install from a git URL builds islb (prepare) and ships the runtime only", (t) => {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" });
  if (head.status !== 0) return t.skip("not a git checkout");
  const dir = mkdtempSync(join(tmpdir(), "islb-git-"));
  try {
    installOffline(dir, `git+file://${root.replace(/\/$/, "")}#${head.stdout.trim()}`, root, ["nats"]);
    const at = join(dir, "node_modules/islb");
    for (const f of [
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/public/reflection.js",
      "dist/generated/islb/islb.js",
      "LICENSE",
      "descriptors/islb.binpb",
    ])
      assert.ok(existsSync(join(at, f)), `${f} is missing`);
    for (const f of ["src", "test", "bench", "dist/test", "generated", "tsconfig.json"])
      assert.ok(!existsSync(join(at, f)), `${f} was installed`);
    const version = execFileSync(join(dir, "node_modules/.bin/islb"), ["--version"], {
      cwd: dir,
      encoding: "utf8",
    }).trim();
    assert.equal(
      version,
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version,
    );
    const imported = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import("islb"); console.log(typeof m.createServer, typeof m.NodeAgent)`,
      ],
      { cwd: dir, encoding: "utf8" },
    );
    assert.equal(imported.stdout.trim(), "function function", imported.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm install from a folder (a checkout that has been built) links it: import and the bin work", () => {
  if (!existsSync(join(root, "dist/src/index.js"))) throw new Error("the checkout is not built (make build)");
  const dir = mkdtempSync(join(tmpdir(), "islb-folder-"));
  try {
    execFileSync("npm", ["init", "-y"], { cwd: dir, stdio: "ignore" });
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", root.replace(/\/$/, "")], {
      cwd: dir,
      stdio: "pipe",
    });
    const version = execFileSync(join(dir, "node_modules/.bin/islb"), ["--version"], {
      cwd: dir,
      encoding: "utf8",
    }).trim();
    assert.equal(
      version,
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version,
    );
    const imported = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import("islb"); const s = await import("islb/service"); console.log(typeof m.createClient, typeof s.startIslb)`,
      ],
      { cwd: dir, encoding: "utf8" },
    );
    assert.equal(imported.stdout.trim(), "function function", imported.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
