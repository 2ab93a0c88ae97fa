/**
 * islb as a user gets it: `npm pack`, the tarball installed into a fresh project with no
 * network, the README's marked ```ts blocks and examples/ type-checked there (strict,
 * NodeNext) and run against a real nats-server and the installed `islb` bin; the generated
 * code of examples/ regenerated there with the recipe's buf.gen.yaml.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "nats";
import { startNatsServer, freePort, type NatsServerProcess } from "../helpers/nats-server.js";
import { installOffline, packIslb, type Packed } from "../helpers/pack.js";
import { run, type Proc } from "../helpers/procs.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  exports: Record<string, string | Record<string, string>>;
};

/** The README's code blocks marked `<!-- tested: NAME ... -->` (the line before the fence), by name, unindented. */
export function readmeSnippets(readme: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readme.matchAll(/^( *)<!-- tested: ([\w.-]+)[^>]*-->\n\1```\w+\n([\s\S]*?)\n\1```$/gm)) {
    const indent = (m[1] as string).length;
    out.set(
      m[2] as string,
      `${(m[3] as string)
        .split("\n")
        .map((l) => l.slice(indent))
        .join("\n")}\n`,
    );
  }
  return out;
}

/** Every file under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [join(dir, e.name).slice(base.length + 1)],
  );
}

/** PIDs of processes whose command line holds `marker`. */
function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ").includes(marker)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe("the packed package, installed offline into a fresh project", () => {
  let dir: string;
  let packed: Packed;
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let islb: Proc;
  const procs: Proc[] = [];
  let env: NodeJS.ProcessEnv;
  const node = (file: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}): Proc => {
    const p = run(process.execPath, [file, ...args], { cwd: dir, env: { ...env, ...extra } });
    procs.push(p);
    return p;
  };
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(join(dir, "node_modules/.bin/islb"), args, {
      cwd: dir,
      env,
      encoding: "utf8",
      timeout: 15_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "islb-package-"));
    packed = packIslb(root, dir);
    // examples/ as a user's project: sources, protos, the buf configs and the descriptor set;
    // generated/ is made here by the recipe, not copied.
    for (const f of ["sfu.ts", "signal.ts", "tsconfig.json", "buf.yaml", "sfu.binpb"])
      cpSync(join(root, "examples", f), join(dir, f));
    cpSync(join(root, "examples/proto"), join(dir, "proto"), { recursive: true });
    const snippets = readmeSnippets(readFileSync(join(root, "README.md"), "utf8"));
    assert.deepEqual(
      [...snippets.keys()].sort(),
      ["buf.gen.yaml", "calling.ts", "serving.ts"],
      "the README's tested blocks",
    );
    // The recipe's buf.gen.yaml is the README's block, which is examples/buf.gen.yaml.
    assert.equal(
      snippets.get("buf.gen.yaml"),
      readFileSync(join(root, "examples/buf.gen.yaml"), "utf8"),
      "README's buf.gen.yaml differs from examples/buf.gen.yaml",
    );
    writeFileSync(join(dir, "buf.gen.yaml"), snippets.get("buf.gen.yaml") as string);
    for (const name of ["calling.ts", "serving.ts"])
      writeFileSync(join(dir, `readme-${name}`), snippets.get(name) as string);
    // Type-checked with the rest: TypeScript must refuse paths outside the exports map.
    writeFileSync(
      join(dir, "not-exported.ts"),
      [
        "// @ts-expect-error: dist/ is private",
        'import type { NodeAgent } from "islb/dist/src/agent/agent.js";',
        "// @ts-expect-error: so are the generated sources",
        'import type { ISLBDefinition } from "islb/generated/islb/islb.js";',
        "export type Private = [NodeAgent, ISLBDefinition];",
        "",
      ].join("\n"),
    );
    installOffline(dir, packed.file, root, [
      "nats",
      "nice-grpc-common",
      "@bufbuild/protobuf",
      "typescript",
      "@types/node",
      "@bufbuild/buf",
      "ts-proto",
    ]);
    const path = `${join(dir, "node_modules/.bin")}:${process.env.PATH ?? ""}`;
    const { npm_command: _, npm_lifecycle_event: __, ...clean } = process.env;
    ns = await startNatsServer();
    env = { ...clean, PATH: path, NATS_URL: ns.url };
    execFileSync("npx", ["--no", "buf", "generate"], { cwd: dir, env, stdio: "pipe" });
    execFileSync(join(dir, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: dir, env, stdio: "pipe" });
    nc = await connect({ servers: ns.url });
    islb = run(
      join(dir, "node_modules/.bin/islb"),
      ["serve", "--nid", "islb-pkg", "--lease-ms", "1500", "--http", "127.0.0.1:0"],
      { cwd: dir, env },
    );
    procs.push(islb);
    await islb.waitFor(/islb serving/);
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop("SIGKILL");
    await nc?.close();
    await ns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the tarball holds the runtime only, and every export with its types", (t) => {
    t.diagnostic(`packed ${packed.size} bytes (${packed.unpackedSize} unpacked), ${packed.files.length} files`);
    const files = new Set(packed.files);
    for (const f of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "dist/src/cli/main.js",
      "proto/islb/islb.proto",
      "proto/ion/ion.proto",
      "descriptors/islb.binpb",
    ])
      assert.ok(files.has(f), `${f} is missing`);
    const stray = packed.files.filter(
      (f) =>
        /^(src|test|bench|generated|examples|docs|\.ci)\//.test(f) ||
        /^dist\/(test|bench)\//.test(f) ||
        f.endsWith(".map") ||
        (f.endsWith(".ts") && !f.endsWith(".d.ts")) ||
        f.includes("/testing/"),
    );
    assert.deepEqual(stray, []);
    for (const [path, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue;
      for (const f of [target.types, target.default])
        assert.ok(files.has((f as string).replace(/^\.\//, "")), `${path}: ${f} is not packed`);
    }
    // What may ship is decided by `stray` above; the size bound catches a blob (a bundled
    // dependency, a data file) slipping in. The runtime alone packs to about 400 kB, so the
    // bound leaves room for the code to grow and not for a second copy of it.
    assert.ok(packed.size < 600_000, `packed size ${packed.size}: more than the runtime's ~400 kB, what was added?`);
  });

  test("the README's buf.gen.yaml regenerates examples/generated as committed", () => {
    const made = walk(join(dir, "generated")).sort();
    assert.deepEqual(made, walk(join(root, "examples/generated")).sort());
    for (const f of made)
      assert.equal(
        readFileSync(join(dir, "generated", f), "utf8"),
        readFileSync(join(root, "examples/generated", f), "utf8"),
        `examples/generated/${f} is stale: run make generate`,
      );
  });

  test("the shipped types check with skipLibCheck off", () => {
    execFileSync(
      join(dir, "node_modules/.bin/tsc"),
      ["-p", "tsconfig.json", "--noEmit", "--skipLibCheck", "false", "--lib", "ES2023,DOM"],
      { cwd: dir, env, stdio: "pipe" },
    );
  });

  test("only the exports are reachable; require() behaves as the README says", () => {
    const imp = (spec: string) =>
      spawnSync(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(spec)})`], {
        cwd: dir,
        env,
        encoding: "utf8",
      });
    for (const spec of ["islb", "islb/reflection", "islb/service", "islb/messages"])
      assert.equal(imp(spec).status, 0, `${spec}: ${imp(spec).stderr}`);
    const denied = imp("islb/dist/src/agent/agent.js");
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
    const cjs = spawnSync(
      process.execPath,
      [
        "-e",
        `const m = require("islb"); console.log(typeof m.createClient, typeof m.NodeAgent, typeof m.ISLBDefinition)`,
      ],
      { cwd: dir, env, encoding: "utf8" },
    );
    if ((process.features as { require_module?: boolean }).require_module === true)
      assert.equal(cjs.stdout.trim(), "function function object", cjs.stderr);
    else assert.match(cjs.stderr, /ERR_REQUIRE_ESM/);
  });

  test("the bin: executable, --version from package.json", () => {
    const bin = join(dir, "node_modules/islb/dist/src/cli/main.js");
    assert.equal(statSync(bin).mode & 0o111, 0o111);
    assert.match(readFileSync(bin, "utf8"), /^#!\/usr\/bin\/env node\n/);
    const v = cli("--version");
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), pkg.version);
    assert.equal(execFileSync("npx", ["islb", "--version"], { cwd: dir, env, encoding: "utf8" }).trim(), pkg.version); // as the README says
  });

  test("README: Serving a service, with reflection; SIGTERM drains and exits 0", async () => {
    const p = node("dist/readme-serving.js");
    await p.waitFor(/serving sfu\.v1\.SFU on sfu-1/);
    const list = cli("list", "--nid", "sfu-1");
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split("\n"), [
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "sfu.v1.SFU",
    ]);
    const call = cli("call", "sfu.v1.SFU/Join", "--nid", "sfu-1", "-d", '{"sid":"r1","uid":"ann"}');
    assert.equal(call.status, 0, call.stderr);
    assert.deepEqual(JSON.parse(call.stdout), { nid: "sfu-1", answer: "hello ann", peers: 1 });
    const bad = cli("call", "sfu.v1.SFU/Join", "--nid", "sfu-1", "-d", "{}");
    assert.equal(bad.status, 64 + 3, bad.stderr);
    assert.match(bad.stderr, /INVALID_ARGUMENT: sid is required/);
    assert.equal(await p.stop("SIGTERM"), 0, p.output());
  });

  test("examples: two SFUs and a signaller, ion's flow", async () => {
    const s1 = node("dist/sfu.js", ["sfu-1"]);
    const s2 = node("dist/sfu.js", ["sfu-2"]);
    const port = await freePort();
    const sig = node("dist/signal.js", [], { PORT: String(port) });
    await Promise.all([
      s1.waitFor(/registered with islb/),
      s2.waitFor(/registered with islb/),
      sig.waitFor(/signal listening/),
    ]);
    const join = async (room: string, uid: string) => {
      const r = await fetch(`http://127.0.0.1:${port}/join?room=${room}&uid=${uid}`);
      return { status: r.status, body: (await r.json()) as { nid?: string; peers?: number; error?: string } };
    };
    const a = await join("room42", "alice");
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const b = await join("room42", "bob");
    assert.equal(b.body.nid, a.body.nid, "a room stays on its node");
    assert.equal(b.body.peers, 2);
    // README "Calling a service" asks islb for room42's node: the one the signaller used.
    const calling = node("dist/readme-calling.js");
    assert.equal(await calling.exited(), 0, calling.output());
    assert.deepEqual(JSON.parse(calling.output().replaceAll("'", '"')), [a.body.nid]);
    const c = await join("room7", "carol");
    assert.notEqual(c.body.nid, a.body.nid, "a new room goes to the less loaded node");
    const bad = await join("room9", "");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error ?? "", /INVALID_ARGUMENT: sid and uid are required/);
    // The SFUs are listed, described and called by the CLI and answer NATS micro discovery.
    const described = cli("describe", "sfu.v1.JoinReply", "--nid", "sfu-2");
    assert.equal(described.status, 0, described.stderr);
    assert.match(described.stdout, /int32 peers = 3;/);
    const ping = JSON.parse(
      new TextDecoder().decode((await nc.request("$SRV.INFO.sfu.sfu-2", undefined, { timeout: 2000 })).data),
    ) as { id: string; endpoints: Array<{ subject: string }> };
    assert.equal(ping.id, "sfu-2");
    assert.deepEqual(
      ping.endpoints
        .map((e) => e.subject)
        .filter((s) => s.startsWith("nrpc.sfu"))
        .sort(),
      ["nrpc.sfu.v1.SFU.Join", "nrpc.sfu.v1.SFU.Leave"],
    );
    // The node hosting room42 stops: it drains, deregisters and exits 0; room42 moves.
    const host = a.body.nid === "sfu-1" ? s1 : s2;
    assert.equal(await host.stop("SIGTERM"), 0, host.output());
    const moved = await join("room42", "dave");
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.notEqual(moved.body.nid, a.body.nid);
    assert.equal(moved.body.peers, 1);
  });

  test("SIGTERM to `npx islb serve` stops the server too (no orphan)", async () => {
    const marker = `npx-term-${process.pid}`;
    const npx = run("npx", ["--no", "islb", "serve", "--nid", marker, "--http", "127.0.0.1:0"], { cwd: dir, env });
    procs.push(npx);
    await npx.waitFor(/islb serving/);
    const served = pidsWith(`serve --nid ${marker}`).filter((p) =>
      readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("node"),
    );
    assert.equal(served.length, 1, `node processes serving: ${served}`);
    npx.child.kill("SIGTERM");
    await npx.exited();
    // It notices within 0.5 s (it polls its parent), drains for up to 5 s (drainMs), and a loaded
    // machine adds seconds to both; an orphan would serve on for ever.
    const until = Date.now() + 20_000;
    while (Date.now() < until && pidsWith(`serve --nid ${marker}`).includes(served[0] as number))
      await new Promise((r) => setTimeout(r, 100));
    const pid = served[0] as number;
    const left = pidsWith(`serve --nid ${marker}`).includes(pid);
    // What the process was doing, for a failure seen once in a fresh-clone run and not reproduced.
    let state = "";
    if (left) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const [st, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        state = ` (state ${st}, parent ${ppid}, wchan ${readFileSync(`/proc/${pid}/wchan`, "utf8")})`;
      } catch {
        /* gone meanwhile */
      }
      process.kill(pid, "SIGKILL");
    }
    assert.equal(left, false, `the islb node process outlived npx${state}; its output:\n${npx.output().slice(-3000)}`);
  });

  test("SIGTERM to the islb bin drains and exits 0", async () => {
    const t0 = Date.now();
    assert.equal(await islb.stop("SIGTERM"), 0, islb.output());
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
    assert.match(islb.output(), /"reason":"SIGTERM".*stopping: draining calls in progress/);
  });
});
