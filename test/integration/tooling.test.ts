/** Reflection, health, micro discovery and the grpcurl-style CLI, against a real islb over real servers. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "nats";
import { createClient, Status } from "../../src/index.js";
import { HealthDefinition, HealthCheckResponse_ServingStatus as S } from "../../generated/grpc/health/v1/health.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { eventually } from "../helpers/setup.js";
import { redisConfig, startIslb } from "../helpers/islb.js";
import type { Running } from "../../src/cli/serve.js";

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const PROTO = fileURLToPath(new URL("../../../proto", import.meta.url));
type Result = { code: number; stdout: string; stderr: string };
const islbCli = async (...args: string[]): Promise<Result> => {
  try {
    const r = await run(process.execPath, [MAIN, ...args]);
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
};

describe("tooling against islb serve", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let nc: NatsConnection;
  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url, { nid: "islb-t" });
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    await nc.close();
    await islb.close();
    await ns.stop();
  });

  test("list, describe and call through reflection", async () => {
    const list = await islbCli("list", "--nats", ns.url);
    assert.deepEqual(list.stdout.trim().split("\n"), [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "islb.ISLB",
    ]);
    const methods = await islbCli("list", "islb.ISLB", "--nats", ns.url);
    assert.match(methods.stdout, /^islb\.ISLB\.FindNode$/m);
    const d = await islbCli("describe", "islb.FindNodeRequest", "--nats", ns.url);
    assert.match(d.stdout, /message FindNodeRequest \{\n  string sid = 1;\n  string nid = 2;\n  string service = 3;/);
    const reg = await islbCli(
      "call",
      "islb.ISLB/Register",
      "--nats",
      ns.url,
      "-d",
      '{"registration":{"node":{"nid":"sfu-t","service":"rtc"}},"leaseMs":60000}',
    );
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(JSON.parse(reg.stdout).revision, /^\d+$/, "uint64 as a JSON string");
    const found = await islbCli(
      "call",
      "islb.ISLB.FindNode",
      "--nats",
      ns.url,
      "--nid",
      "islb-t",
      "-H",
      "x-trace: 7",
      "--timeout",
      "2s",
      "-d",
      '{"service":"rtc","sid":"r1"}',
    );
    assert.deepEqual(JSON.parse(found.stdout), { nodes: [{ nid: "sfu-t", service: "rtc" }] });
  });

  test("server streaming prints one JSON document per message", async () => {
    // Read until the stream's SYNCED line (a loaded machine may take seconds to start the CLI), then stop it.
    const child = spawn(process.execPath, [MAIN, "call", "islb.ISLB/Watch", "--nats", ns.url, "-d", "{}"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    let text = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TYPE_SYNCED within 20 s: ${text}`)), 20_000);
      child.stdout.on("data", (c: Buffer) => {
        text += c.toString();
        if (text.includes("TYPE_SYNCED")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGINT");
    assert.equal(await exited, 130, "Ctrl-C ends a stream as shells report SIGINT");
    assert.equal(stderr, "", "and quietly");
    const out = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(out.length >= 2);
    assert.equal(out.at(-1).type, "TYPE_SYNCED");
  });

  test("errors a person can act on, and exit codes that encode the status", async () => {
    const bad = await islbCli("call", "islb.ISLB/FindNode", "--nats", ns.url, "-d", '{"service":"a.b"}');
    assert.equal(bad.code, 64 + Status.INVALID_ARGUMENT);
    assert.match(bad.stderr, /^ERROR: INVALID_ARGUMENT: service "a\.b"/);
    const nf = await islbCli("call", "islb.ISLB/FindNode", "--nats", ns.url, "-d", '{"service":"ghost","sid":"x"}');
    assert.equal(nf.code, 64 + Status.NOT_FOUND);
    const unknown = await islbCli("call", "islb.ISLB/FindNod", "--nats", ns.url, "-d", "{}");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /has no method FindNod; it has: FindNode, Register/);
    const json = await islbCli("call", "islb.ISLB/FindNode", "--nats", ns.url, "-d", '{"servic":"x"}');
    assert.match(json.stderr, /key "servic" is unknown/);
    const array = await islbCli("call", "islb.ISLB/FindNode", "--nats", ns.url, "-d", "[1]");
    assert.equal(array.code, 1);
    assert.match(array.stderr, /^ERROR: the request must be a JSON object, not an array$/m);
    const nobody = await islbCli("call", "islb.ISLB/FindNode", "--nats", ns.url, "--nid", "nobody", "-d", "{}");
    assert.match(nobody.stderr, /nrpc\.nobody\.grpc\.reflection\.v1\.ServerReflection/, "names the subject it tried");
  });

  test("--proto instead of reflection, and --wire nats-grpc", async () => {
    const r = await islbCli(
      "call",
      "islb.ISLB/FindNode",
      "--nats",
      ns.url,
      "--proto",
      "islb/islb.proto",
      "--import-path",
      PROTO,
      "--wire",
      "nats-grpc",
      "-d",
      '{"service":"rtc","sid":"r1"}',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).nodes[0].nid, "sfu-t");
    const l = await islbCli("list", "--proto", "islb/islb.proto", "--import-path", PROTO, "--nats", ns.url);
    assert.match(l.stdout, /^islb\.ISLB$/m);
    // As strict as reflection: unknown keys refused, in nested messages too.
    const proto = ["--nats", ns.url, "--proto", "islb/islb.proto", "--import-path", PROTO];
    const typo = await islbCli("call", "islb.ISLB/FindNode", ...proto, "-d", '{"service":"rtc","sidd":"r1"}');
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /islb\.FindNodeRequest from JSON: key "sidd" is unknown/);
    const nested = await islbCli(
      "call",
      "islb.ISLB/Register",
      ...proto,
      "-d",
      '{"registration":{"node":{"nidd":"x"}}}',
    );
    assert.equal(nested.code, 1);
    assert.match(nested.stderr, /ion\.Node from JSON: key "nidd" is unknown/);
    // describe prints .proto syntax, as it does from reflection.
    for (const symbol of ["islb.Registration", "islb.ISLB", "islb.ISLB.Watch", "islb.NodeState"]) {
      const fromFile = await islbCli("describe", symbol, ...proto);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.equal(fromFile.stdout, (await islbCli("describe", symbol, "--nats", ns.url)).stdout);
    }
    const reg = await islbCli("describe", "islb.Registration", ...proto);
    assert.match(reg.stdout, /^  map<string, \.islb\.ExtraValue> extra_info = 7;$/m);
  });

  test("the JSON mode of islb serve is canonical proto3 JSON and strict", async () => {
    const enc = new TextEncoder();
    const ok = await nc.request(
      "nrpc.islb.ISLB.Register",
      enc.encode('{"registration":{"node":{"nid":"sfu-j","service":"rtc"}},"lease_ms":60000}'),
    );
    const body = JSON.parse(new TextDecoder().decode(ok.data));
    assert.equal(typeof body.revision, "string", "uint64 as a string");
    assert.equal(body.leaseMs, 60000, "proto field names accepted, lowerCamelCase written");
    const bad = await nc.request("nrpc.islb.ISLB.FindNode", enc.encode('{"servce":"rtc"}'));
    assert.equal(bad.headers?.get("grpc-status"), String(Status.INVALID_ARGUMENT));
    assert.match(bad.headers?.get("grpc-message") ?? "", /servce/);
  });

  test("NATS micro discovery: PING, INFO and STATS in every name form", async () => {
    const enc = new TextEncoder();
    const dec = (m: { data: Uint8Array }) => JSON.parse(new TextDecoder().decode(m.data));
    for (const s of ["$SRV.PING", "$SRV.PING.islb", "$SRV.PING.islb.islb-t"])
      assert.equal(dec(await nc.request(s, enc.encode(""))).type, "io.nats.micro.v1.ping_response");
    const info = dec(await nc.request("$SRV.INFO.islb", enc.encode("")));
    assert.equal(info.id, "islb-t");
    const fn = info.endpoints.find((e: { name: string }) => e.name === "FindNode");
    assert.deepEqual([fn.subject, fn.queue_group], ["nrpc.islb.ISLB.FindNode", "islb.ISLB"]);
    const stats = dec(await nc.request("$SRV.STATS.islb.islb-t", enc.encode("")));
    const s = stats.endpoints.find((e: { name: string }) => e.name === "FindNode");
    assert.ok(s.num_requests >= 3 && s.num_errors >= 2, JSON.stringify(s));
    assert.match(s.last_error, /^\d+: /);
  });

  test("health: Check and Watch", async () => {
    const h = createClient(HealthDefinition, nc);
    assert.equal((await h.check({ service: "" })).status, S.SERVING);
    assert.equal((await h.check({ service: "islb.ISLB" })).status, S.SERVING);
    await assert.rejects(h.check({ service: "nope" }), (e: { code?: number }) => e.code === Status.NOT_FOUND);
    for await (const r of h.watch({ service: "" })) {
      assert.equal(r.status, S.SERVING);
      break;
    }
  });
});

test("client streaming from stdin (JSON lines), and a Test server of our own, through reflection", async () => {
  const { createServer } = await import("../../src/index.js");
  const { addReflection } = await import("../../src/reflection/mount.js");
  const { islbDescriptors } = await import("../../src/reflection/descriptors.js");
  const { TestDefinition } = await import("../../generated/testing/interop.js");
  const { interopService } = await import("../helpers/services.js");
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  const server = createServer({ nid: "t9" }).add(TestDefinition, interopService);
  addReflection(server, islbDescriptors());
  await server.listen(nc);
  try {
    const child = execFile(process.execPath, [MAIN, "call", "interop.test.Test/Sum", "--nats", ns.url, "-d", "@"]);
    child.stdin?.end('{"i": 1, "msg": "a"}\n{"i": 2, "msg": "b"}\n{"i": 39}\n');
    const out = await new Promise<string>((resolve) => {
      let text = "";
      child.stdout?.on("data", (d) => (text += String(d)));
      child.on("exit", () => resolve(text));
    });
    assert.deepEqual(JSON.parse(out), { total: "42", count: 3, msgs: ["a", "b", ""] });
    const bidi = await islbCli("call", "interop.test.Test.Count", "--nats", ns.url, "-d", '{"n": 3, "prefix": "p"}');
    assert.deepEqual(
      bidi.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).msg),
      ["p-1", "p-2", "p-3"],
    );
  } finally {
    await server.close();
    await nc.close();
    await ns.stop();
  }
});

test("without --nid, list / describe / call find the server that knows a symbol, with several reflection servers on the bus", async () => {
  const { createServer } = await import("../../src/index.js");
  const { addReflection } = await import("../../src/reflection/mount.js");
  const { serveMicro } = await import("../../src/micro/discovery.js");
  const { DescriptorIndex, islbDescriptorSet } = await import("../../src/reflection/descriptors.js");
  const { TestDefinition } = await import("../../generated/testing/interop.js");
  const { interopService } = await import("../helpers/services.js");
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  // islb and a server of our own both answer the shared reflection subject, each knowing its own services.
  const islb = await startIslb(ns.url, { nid: "islb-r" });
  const server = createServer({ nid: "t10" }).add(TestDefinition, interopService);
  addReflection(server, new DescriptorIndex(islbDescriptorSet()));
  const stopMicro = serveMicro(nc, server, { name: "Test", version: "1.0.0" });
  await server.listen(nc);
  try {
    for (let i = 0; i < 4; i++) {
      const list = await islbCli("list", "--nats", ns.url);
      assert.equal(list.code, 0, list.stderr);
      const services = list.stdout.trim().split("\n");
      assert.ok(services.includes("islb.ISLB") && services.includes("interop.test.Test"), services.join(" "));
      const d = await islbCli("describe", "interop.test.Test", "--nats", ns.url);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /service Test \{/);
      const f = await islbCli("describe", "islb.FindNodeRequest", "--nats", ns.url);
      assert.equal(f.code, 0, f.stderr);
      const bidi = await islbCli("call", "interop.test.Test.Count", "--nats", ns.url, "-d", '{"n": 1, "prefix": "q"}');
      assert.equal(bidi.code, 0, bidi.stderr);
      assert.equal(JSON.parse(bidi.stdout.trim()).msg, "q-1");
    }
    const none = await islbCli("describe", "no.such.Thing", "--nats", ns.url);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no server on the bus knows the symbol no\.such\.Thing/);
    const notService = await islbCli("list", "islb.FindNodeRequest", "--nats", ns.url);
    assert.equal(notService.code, 1);
    assert.match(notService.stderr, /islb\.FindNodeRequest is not a service; the services: .*islb\.ISLB/);
  } finally {
    stopMicro();
    await server.close();
    await islb.close();
    await nc.close();
    await ns.stop();
  }
});

test("health turns NOT_SERVING while Redis is down, and SERVING when it is back", async () => {
  const ns = await startNatsServer();
  const rs = await startRedisServer();
  const islb = await startIslb(ns.url, { nid: "islb-h", redis: redisConfig(rs.url) });
  const nc = await connect({ servers: ns.url });
  try {
    const h = createClient(HealthDefinition, nc);
    const seen: S[] = [];
    const ac = new AbortController();
    const watching = (async () => {
      try {
        for await (const r of h.watch({ service: "islb.ISLB" }, { signal: ac.signal })) seen.push(r.status);
      } catch {
        /* aborted */
      }
    })();
    assert.ok(await eventually(() => seen[0] === S.SERVING));
    await rs.kill();
    assert.ok(await eventually(() => seen.includes(S.NOT_SERVING), 5000), `saw ${seen.join()}`);
    assert.equal((await h.check({ service: "" })).status, S.NOT_SERVING);
    await rs.restart();
    assert.ok(await eventually(() => seen.at(-1) === S.SERVING, 8000), `saw ${seen.join()}`);
    ac.abort();
    await watching;
  } finally {
    await nc.close();
    await islb.close();
    await rs.stop();
    await ns.stop();
  }
});
