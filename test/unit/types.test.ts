/**
 * Type tests (issue 10): test/types/server-add.fail.ts must fail to compile with exactly the
 * expected errors (a missing method, a misuse of the CallContext, call options of a middleware
 * the client does not use), and test/types/server-add.ok.ts must compile.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const tsc = (project: string) => {
  const r = spawnSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, "--noEmit", "-p", `${root}test/types/${project}`],
    { encoding: "utf8" },
  );
  const errors = [...r.stdout.matchAll(/server-add\.\w+\.ts\((\d+),\d+\): error (TS\d+)/g)].map(
    (m) => `${m[2]}@${m[1]}`,
  );
  return { status: r.status, errors, out: r.stdout + r.stderr };
};

test("a complete, CallContext-typed implementation and a typed middleware option compile", () => {
  const r = tsc("tsconfig.ok.json");
  assert.equal(r.status, 0, r.out);
});

test("a missing method, ctx.totallyBogus() and an option no middleware gives do not compile", () => {
  const r = tsc("tsconfig.fail.json");
  assert.notEqual(r.status, 0);
  assert.deepEqual(
    r.errors.map((e) => e.split("@")[0]),
    ["TS2345", "TS2339", "TS2353"],
    r.out,
  );
});
