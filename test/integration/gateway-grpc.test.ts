/**
 * The gateway's gRPC side beyond the interop cases: flow control both ways, grpc-timeout and
 * metadata as the bus sees them, routing to one node, refusals with the right status, health,
 * access (allow list, bearer token) and the CLI's refusal to expose everything off loopback.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { messagePrefix } from "../../src/gateway/framing.js";
import * as grpc from "@grpc/grpc-js";
import type { Msg } from "nats";
import { createServer, parseTimeout, type NatsServer } from "../../src/index.js";
import {
  TestServiceDefinition,
  type StreamingInputCallRequest,
  type StreamingOutputCallRequest,
} from "../../generated/testing/test.js";
import { HealthCheckResponse_ServingStatus as Serving } from "../../generated/grpc/health/v1/health.js";
import { withOwnServices } from "../../src/gateway/own.js";
import { Gateway } from "../../src/gateway/server.js";
import { eventually } from "../helpers/setup.js";
import { freePort } from "../helpers/nats-server.js";
import { isGrpcStatus, readAll, repoFile, startGateway, testClients, unary, type GatewayEnv } from "./gateway-env.js";

const CHUNK = 64 * 1024;

describe("gateway: gRPC side", () => {
  let g: GatewayEnv;
  let clients: ReturnType<typeof testClients>;
  let slow: NatsServer;
  let produced = 0;
  let consumed = 0;
  let release: (() => void) | undefined;
  before(async () => {
    // Compression off: the flow-control tests count bytes of zeros, which gzip makes almost nothing
    // (gateway-compression.test.ts tests compression).
    g = await startGateway({ micro: true, compressMinBytes: -1 });
    clients = testClients(g.address);
    // Node t2: a producer that yields as fast as it is let, and a consumer that waits before reading.
    slow = createServer({ nid: "t2" });
    slow.add(TestServiceDefinition, {
      async *streamingOutputCall(req: StreamingOutputCallRequest) {
        for (const p of req.responseParameters) {
          produced++;
          yield { payload: { body: Buffer.alloc(p.size) } };
        }
      },
      async streamingInputCall(requests: AsyncIterable<StreamingInputCallRequest>) {
        await new Promise<void>((r) => (release = r));
        let total = 0;
        for await (const r of requests) {
          consumed++;
          total += r.payload?.body.length ?? 0;
        }
        return { aggregatedPayloadSize: total };
      },
    } as never); // the other methods: UNIMPLEMENTED
    await slow.listen(g.env.snc);
  });
  after(async () => {
    clients.test.close();
    clients.unimplemented.close();
    await slow.close();
    await g.close();
  });

  const toT2 = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set("islb-nid", "t2");
    return md;
  };

  test("a slow HTTP/2 reader slows the producer on the bus; then every message arrives", async () => {
    produced = 0;
    const n = 300; // 19 MiB
    const call = clients.test.streamingOutputCall!(
      { responseParameters: Array.from({ length: n }, () => ({ size: CHUNK, intervalUs: 0 })) },
      toT2(),
    ) as grpc.ClientReadableStream<{ payload?: { body: Buffer } }>;
    let got = 0;
    const first = new Promise<void>((resolve) => call.once("data", () => resolve()));
    call.on("data", () => got++);
    await first;
    call.pause();
    await new Promise((r) => setTimeout(r, 1500));
    // Window on the bus (1 MiB) + the gateway's and grpc-js's HTTP/2 buffers: a few MiB, not 19.
    assert.ok(produced < 80, `the producer made ${produced} of ${n} messages while the reader was paused`);
    const done = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.resume();
    assert.equal((await done).code, grpc.status.OK);
    assert.equal(got, n);
    assert.equal(produced, n);
  });

  test("a slow consumer on the bus slows the HTTP/2 writer; then every message arrives", async () => {
    consumed = 0;
    const n = 300;
    let written = 0;
    const result = new Promise<{ aggregatedPayloadSize: number }>((resolve, reject) => {
      const call = clients.test.streamingInputCall!(
        toT2(),
        (e: grpc.ServiceError | null, v: { aggregatedPayloadSize: number }) => (e ? reject(e) : resolve(v)),
      ) as grpc.ClientWritableStream<unknown>;
      let i = 0;
      const pump = (): void => {
        while (i < n) {
          i++;
          const ok = call.write({ payload: { body: Buffer.alloc(CHUNK) } }, () => written++);
          if (!ok) return void call.once("drain", pump);
        }
        call.end();
      };
      pump();
    });
    assert.ok(await eventually(() => release !== undefined), "the handler started");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(consumed, 0);
    assert.ok(written < 80, `the client could write ${written} of ${n} messages while nobody read them`);
    release?.();
    assert.equal((await result).aggregatedPayloadSize, n * CHUNK);
  });

  test("grpc-timeout becomes the call's deadline on the bus, metadata passes, the routing key does not", async () => {
    const seen: Msg[] = [];
    const sub = g.env.nc.subscribe("nrpc.t1.grpc.testing.TestService.UnaryCall", { callback: (_e, m) => seen.push(m) });
    await g.env.nc.flush();
    const md = new grpc.Metadata();
    md.set("islb-nid", "t1");
    md.set("x-custom", "value-1");
    md.add("x-custom", "value-2");
    md.set("x-data-bin", Buffer.from([1, 2, 3]));
    await unary(clients.test, "unaryCall", { responseSize: 3 }, md, { deadline: new Date(Date.now() + 5000) });
    const plain = new grpc.Metadata();
    plain.set("islb-nid", "t1");
    await unary(clients.test, "unaryCall", { responseSize: 3 }, plain);
    sub.unsubscribe();
    assert.equal(seen.length, 2, "one NATS request a call: the unary fast path");
    // A call with no metadata and no deadline carries only the content type (user-agent and te stay behind).
    assert.deepEqual(seen[1]?.headers?.keys(), ["content-type"]);
    const h = seen[0]?.headers;
    const t = parseTimeout(h?.get("grpc-timeout") ?? "");
    assert.ok(t !== undefined && t > 3000 && t <= 5000, `grpc-timeout on the bus: ${h?.get("grpc-timeout")}`);
    // grpc-js sends a repeated key as one comma-joined header, which is how it reaches the bus.
    assert.deepEqual(h?.values("x-custom"), ["value-1, value-2"]);
    assert.equal(Buffer.from(h?.get("x-data-bin") ?? "", "base64").toString("hex"), "010203");
    assert.equal(h?.has("islb-nid"), false);
    assert.equal(h?.has("te"), false);
  });

  test("refusals: malformed grpc-timeout, bad paths, messages over the limit", async () => {
    const raw = new grpc.Client(g.address, grpc.credentials.createInsecure());
    const call = (path: string, md = new grpc.Metadata(), body = Buffer.alloc(0)): Promise<unknown> =>
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          md,
          (e, v) => (e ? reject(e) : resolve(v)),
        ),
      );
    await assert.rejects(call("/no-dot/x.y"), isGrpcStatus(grpc.status.UNIMPLEMENTED));
    await assert.rejects(call("/grpc.testing.TestService/Empty*Call"), isGrpcStatus(grpc.status.UNIMPLEMENTED));
    const big = Buffer.alloc(5 * 1024 * 1024);
    await assert.rejects(
      call("/grpc.testing.TestService/UnaryCall", new grpc.Metadata(), big),
      isGrpcStatus(grpc.status.RESOURCE_EXHAUSTED),
    );
    const t1 = new grpc.Metadata();
    t1.set("islb-nid", "t1"); // node t2 serves TestService too, without EmptyCall
    assert.deepEqual(
      await call("/grpc.testing.TestService/EmptyCall", t1),
      Buffer.alloc(0),
      "raw bytes pass both ways",
    );
    raw.close();
    // grpc-js never sends a malformed grpc-timeout: a bare HTTP/2 client does.
    const session = http2.connect(`http://${g.address}`);
    const req = session.request({
      ":method": "POST",
      ":path": "/grpc.testing.TestService/EmptyCall",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "soon",
    });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("response", resolve));
    assert.equal(headers["grpc-status"], String(grpc.status.INVALID_ARGUMENT));
    assert.match(String(headers["grpc-message"]), /malformed grpc-timeout/);
    session.close();
  });

  test("compressed requests: grpc-js with gzip passes; a gzip bomb is refused before it inflates past the limit", async () => {
    const gz = testClients(g.address, grpc.credentials.createInsecure(), {
      "grpc.default_compression_algorithm": 2,
    }).test;
    const md = new grpc.Metadata();
    md.set("islb-nid", "t1");
    const r = await unary<{ payload?: { body: Buffer } }>(
      gz,
      "unaryCall",
      { responseSize: 1000, payload: { body: Buffer.alloc(271_828) } },
      md,
    );
    assert.equal(r.value.payload?.body.length, 1000);
    gz.close();
    const bomb = gzipSync(Buffer.alloc(6 * 1024 * 1024));
    const session = http2.connect(`http://${g.address}`);
    const req = session.request({
      ":method": "POST",
      ":path": "/grpc.testing.TestService/UnaryCall",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": "gzip",
      "islb-nid": "t1",
    });
    req.end(Buffer.concat([messagePrefix(bomb.length, 1), bomb]));
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("response", resolve));
    assert.equal(headers["grpc-status"], String(grpc.status.RESOURCE_EXHAUSTED), String(headers["grpc-message"]));
    const other = session.request({
      ":method": "POST",
      ":path": "/grpc.testing.TestService/EmptyCall",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": "br",
    });
    other.end(messagePrefix(0));
    const h2 = await new Promise<http2.IncomingHttpHeaders>((resolve) => other.once("response", resolve));
    assert.equal(h2["grpc-status"], String(grpc.status.UNIMPLEMENTED));
    session.close();
  });

  test("nothing is left behind: after every call above, no call is active in the gateway or on the servers", async () => {
    assert.ok(
      await eventually(() => g.gateway.stats.active === 0),
      `gateway calls still active: ${g.gateway.stats.active}`,
    );
    assert.ok(
      await eventually(() => g.env.server.stats().activeCalls === 0 && slow.stats().activeCalls === 0),
      "server calls still active",
    );
  });

  test("close() ends the calls in progress: the stream on the bus is cancelled, the client sees the end", async () => {
    const gw = new Gateway(g.gnc, {});
    const a = await gw.listen(0, "127.0.0.1");
    const { test: c } = testClients(`127.0.0.1:${a.port}`);
    const md = new grpc.Metadata();
    md.set("islb-nid", "t1");
    const call = c.fullDuplexCall!(md) as grpc.ClientDuplexStream<unknown, unknown>;
    const ended = new Promise<void>((resolve) => {
      call.on("error", () => resolve());
      call.on("status", () => resolve());
    });
    call.write({ responseParameters: [{ size: 1, intervalUs: 0 }] });
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    assert.equal(gw.stats.active, 1);
    const t0 = Date.now();
    await gw.close();
    await ended;
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(
      await eventually(() => gw.stats.active === 0 && g.env.server.stats().activeCalls === 0),
      "the call on the bus ended",
    );
    c.close();
  });

  test("the bus side ending a call reaches the HTTP client: a server shutting down mid-stream", async () => {
    const t3 = createServer({ nid: "t3", drainMs: 50 });
    t3.add(TestServiceDefinition, {
      async *fullDuplexCall(requests: AsyncIterable<unknown>) {
        for await (const _ of requests) yield { payload: { body: Buffer.alloc(1) } };
      },
    } as never);
    await t3.listen(g.env.snc);
    const md = new grpc.Metadata();
    md.set("islb-nid", "t3");
    const call = clients.test.fullDuplexCall!(md) as grpc.ClientDuplexStream<unknown, unknown>;
    const failed = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    call.write({ responseParameters: [] });
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    await t3.close();
    const e = await failed;
    assert.equal(e.code, grpc.status.UNAVAILABLE, e.details);
  });

  test("UNAVAILABLE at once for a node nobody is", async () => {
    const md = new grpc.Metadata();
    md.set("islb-nid", "nobody");
    const t0 = Date.now();
    await assert.rejects(unary(clients.test, "emptyCall", {}, md), isGrpcStatus(grpc.status.UNAVAILABLE));
    assert.ok(Date.now() - t0 < 1000);
    md.set("islb-nid", "bad.nid");
    await assert.rejects(unary(clients.test, "emptyCall", {}, md), isGrpcStatus(grpc.status.INVALID_ARGUMENT));
  });
});

describe("gateway: health and access", () => {
  let g: GatewayEnv;
  before(async () => {
    g = await startGateway({ micro: true });
  });
  after(() => g.close());

  async function gatewayOn(
    options: ConstructorParameters<typeof Gateway>[1],
  ): Promise<{ gw: Gateway; address: string }> {
    const gw = new Gateway(g.gnc, withOwnServices(g.gnc, options ?? {}));
    const a = await gw.listen(0, "127.0.0.1");
    return { gw, address: `127.0.0.1:${a.port}` };
  }

  test("grpc.health.v1: the gateway itself is SERVING; a named service passes through to the bus", async () => {
    const { gw, address } = await gatewayOn({ allow: ["grpc.testing.TestService"] });
    const health = new (grpc.makeGenericClientConstructor({}, "") as unknown as typeof grpc.Client)(
      address,
      grpc.credentials.createInsecure(),
    );
    const check = (service: string): Promise<Buffer> =>
      new Promise((resolve, reject) =>
        health.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (s: string) => Buffer.concat([Buffer.from([0x0a, s.length]), Buffer.from(s)]),
          (b: Buffer) => b,
          service,
          (e, v) => (e ? reject(e) : resolve(v as Buffer)),
        ),
      );
    assert.deepEqual([...(await check(""))], [0x08, Serving.SERVING]);
    // Nobody on this bus serves grpc.health.v1 for named services: the bus's answer comes back as it is.
    await assert.rejects(check("grpc.testing.TestService"), isGrpcStatus(grpc.status.UNAVAILABLE));
    await assert.rejects(check("islb.ISLB"), isGrpcStatus(grpc.status.NOT_FOUND));
    health.close();
    await gw.close();
  });

  test("an allow list hides what it does not name; a bearer token is required when set", async () => {
    const { gw, address } = await gatewayOn({ allow: ["grpc.testing.TestService/EmptyCall"], authToken: "s3cret" });
    const { test: c, unimplemented } = testClients(address);
    const auth = (token: string): grpc.Metadata => {
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${token}`);
      return md;
    };
    await assert.rejects(unary(c, "emptyCall", {}), isGrpcStatus(grpc.status.UNAUTHENTICATED));
    await assert.rejects(unary(c, "emptyCall", {}, auth("wrong")), isGrpcStatus(grpc.status.UNAUTHENTICATED));
    assert.deepEqual((await unary(c, "emptyCall", {}, auth("s3cret"))).value, {});
    await assert.rejects(
      unary(c, "unaryCall", { responseSize: 1 }, auth("s3cret")),
      isGrpcStatus(grpc.status.PERMISSION_DENIED),
    );
    await assert.rejects(
      readAll(c.streamingOutputCall!({ responseParameters: [] }, auth("s3cret"))),
      isGrpcStatus(grpc.status.PERMISSION_DENIED),
    );
    await assert.rejects(
      unary(unimplemented, "unimplementedCall", {}, auth("s3cret")),
      isGrpcStatus(grpc.status.PERMISSION_DENIED),
    );
    c.close();
    unimplemented.close();
    await gw.close();
  });

  test("islb gateway -c file.toml: [gateway] and [nats] from the file, flags over them; SIGTERM stops it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "islb-gw-cli-"));
    const file = join(dir, "islb.toml");
    writeFileSync(
      file,
      `[nats]\nurl = "${g.env.ns.url}"\n\n[gateway]\nlisten = "127.0.0.1:1"\nallow = ["grpc.testing.TestService/EmptyCall"]\nauth_token = "from-file"\n`,
    );
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [repoFile("dist/src/cli/main.js"), "gateway", "-c", file, "--listen", `127.0.0.1:${port}`, "--log-level", "warn"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once("data", (d: Buffer) => resolve(d.toString()));
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      assert.match(line, new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
      const { test: c } = testClients(`127.0.0.1:${port}`);
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer from-file");
      md.set("islb-nid", "t1");
      assert.deepEqual((await unary(c, "emptyCall", {}, md)).value, {});
      await assert.rejects(unary(c, "unaryCall", { responseSize: 1 }, md), isGrpcStatus(grpc.status.PERMISSION_DENIED));
      c.close();
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("islb gateway refuses to expose everything on a non-loopback address", () => {
    const main = repoFile("dist/src/cli/main.js");
    const r = spawnSync(process.execPath, [main, "gateway", "--listen", "0.0.0.0:0", "--nats", g.env.ns.url], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing to expose every service on 0\.0\.0\.0/);
  });
});
