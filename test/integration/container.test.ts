/**
 * The container files, checked by what runs here (no Docker engine on islb's development
 * machines): the Dockerfile copies what exists, installs the package and runs its bin as a
 * non-root user with a health check on /readyz; compose.yaml parses, and every flag its islb
 * services pass is one `islb serve` accepts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { bin: Record<string, string>; files: string[] };

test("the Dockerfile: two stages, copies what exists, installs the packed package, runs the bin as a non-root user, health check on /readyz", () => {
  const df = readFileSync(`${ROOT}Dockerfile`, "utf8");
  const lines = df.split("\n").filter((l) => !l.startsWith("#"));
  assert.equal(lines.filter((l) => l.startsWith("FROM ")).length, 2, "multi-stage");
  for (const l of lines.filter((x) => x.startsWith("COPY ") && !x.includes("--from="))) {
    const srcs = l.slice(5).trim().split(/\s+/).slice(0, -1);
    for (const s of srcs) assert.ok(existsSync(`${ROOT}${s}`), `COPY ${s}: no such file in the repository`);
  }
  assert.match(df, /npm pack/);
  assert.match(df, /npm install --omit=dev [^\n]*islb\.tgz/);
  assert.match(df, /^USER node$/m);
  assert.match(df, /HEALTHCHECK[\s\S]*127\.0\.0\.1:9464\/readyz/);
  assert.match(df, /ISLB_HTTP=0\.0\.0\.0:9464/);
  const entry = /^ENTRYPOINT \["node_modules\/\.bin\/(\w+)"\]$/m.exec(df);
  assert.ok(
    entry !== null && pkg.bin[entry[1] as string] !== undefined,
    "the entry point is the package's bin, in exec form",
  );
  assert.match(df, /^CMD \["serve"\]$/m);
});

test("compose.yaml parses; its islb services pass only flags islb serve accepts, and the environment it reads", () => {
  const doc = parse(readFileSync(`${ROOT}compose.yaml`, "utf8")) as {
    services: Record<
      string,
      {
        build?: string;
        command?: string[];
        environment?: Record<string, string>;
        ports?: string[];
        depends_on?: string[];
      }
    >;
  };
  const names = Object.keys(doc.services);
  assert.deepEqual(names.sort(), ["islb-1", "islb-2", "nats", "redis"]);
  const help = execFileSync(process.execPath, [MAIN, "serve", "--help"], { encoding: "utf8" });
  const accepted = new Set([...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));
  const hostPorts = new Set<string>();
  for (const name of ["islb-1", "islb-2"]) {
    const s = doc.services[name];
    assert.ok(s !== undefined);
    assert.equal(s.build, ".");
    assert.equal(s.command?.[0], "serve");
    for (const arg of s.command ?? [])
      if (arg.startsWith("--")) assert.ok(accepted.has(arg.slice(2)), `${name}: islb serve has no flag ${arg}`);
    assert.deepEqual(Object.keys(s.environment ?? {}).sort(), ["NATS_URL", "REDIS_URL"]);
    assert.ok(s.environment?.NATS_URL?.startsWith("nats://nats:"), "NATS by its service name");
    assert.ok(s.environment?.REDIS_URL?.startsWith("redis://redis:"), "one Redis shared by both");
    assert.deepEqual(s.depends_on, ["nats", "redis"]);
    for (const p of s.ports ?? []) {
      assert.match(p, /^127\.0\.0\.1:\d+:9464$/, "the page on the host's loopback");
      hostPorts.add(p.split(":")[1] as string);
    }
  }
  assert.equal(hostPorts.size, 2, "each instance's page on a port of its own");
});
