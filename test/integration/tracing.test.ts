/**
 * One trace across the bus: the caller's client span, islb's server span (its child, from the
 * traceparent carried in NATS headers) and the Redis store's span for the placement (the
 * server span's child), recorded by OpenTelemetry's SDK with an in-memory exporter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { context, propagation, trace, SpanKind } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { connect } from "nats";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { defaults } from "../../src/app/config.js";
import { startIslb } from "../../src/app/islb.js";
import { createClient } from "../../src/index.js";
import { tracingClientMiddleware } from "../../src/public/tracing.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { redisConfig, startAgent } from "../helpers/islb.js";

test("a new-session FindNode makes one trace: client span, islb server span, Redis placement span", async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const ns = await startNatsServer();
  const redis = await startRedisServer();
  const islb = await startIslb(
    { ...defaults(), http: "", nid: "islb-trace", nats: { url: ns.url }, redis: redisConfig(redis.url) },
    { tracing: true },
  );
  const node = await startAgent(ns.url, "sfu-traced");
  const nc = await connect({ servers: ns.url });
  try {
    exporter.reset();
    const client = createClient(ISLBDefinition, nc, { middleware: [tracingClientMiddleware()] });
    const { nodes } = await client.findNode({ service: "rtc", sid: "room-traced" });
    assert.equal(nodes[0]?.nid, "sfu-traced");
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const find = (kind: SpanKind, name: RegExp) => spans.find((s) => s.kind === kind && name.test(s.name));
    const clientSpan = find(SpanKind.CLIENT, /islb\.ISLB\/FindNode/);
    const serverSpan = find(SpanKind.SERVER, /islb\.ISLB\/FindNode/);
    const redisSpan = find(SpanKind.CLIENT, /^islb\.redis\.place$/);
    assert.ok(
      clientSpan && serverSpan && redisSpan,
      `spans: ${spans.map((s) => `${SpanKind[s.kind]} ${s.name}`).join(", ")}`,
    );
    const traceId = clientSpan.spanContext().traceId;
    assert.equal(serverSpan.spanContext().traceId, traceId, "the server span is in the caller's trace");
    assert.equal(redisSpan.spanContext().traceId, traceId, "the store's span too");
    assert.equal(
      serverSpan.parentSpanContext?.spanId,
      clientSpan.spanContext().spanId,
      "the server span's parent is the client span",
    );
    assert.equal(
      redisSpan.parentSpanContext?.spanId,
      serverSpan.spanContext().spanId,
      "the placement's parent is the server span",
    );
    assert.equal(redisSpan.attributes["db.system"], "redis");
    assert.equal(redisSpan.attributes["islb.placed"], true);
    // A known session is answered from memory: no store span.
    exporter.reset();
    await client.findNode({ service: "rtc", sid: "room-traced" });
    await provider.forceFlush();
    assert.equal(exporter.getFinishedSpans().filter((s) => s.name === "islb.redis.place").length, 0);
  } finally {
    await nc.close();
    await node.agent.stop();
    await node.nc.close();
    await islb.close();
    await redis.stop();
    await ns.stop();
    await provider.shutdown();
  }
});

test("islb serve with OTEL_EXPORTER_OTLP_ENDPOINT exports its spans over OTLP/HTTP, in the caller's trace", async () => {
  const { createServer } = await import("node:http");
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const bodies: string[] = [];
  const collector = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", () => r()));
  const port = (collector.address() as { port: number }).port;
  const ns = await startNatsServer();
  const main = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
  const env = {
    ...process.env,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  };
  const child = spawn(
    process.execPath,
    [main, "serve", "--nats", ns.url, "--nid", "islb-otlp", "--http", "off", "--log-format", "json"],
    { env, stdio: ["ignore", "pipe", "inherit"] },
  );
  const nc = await connect({ servers: ns.url });
  try {
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        if (/islb serving/.test(out)) resolve();
      });
      child.once("exit", (code) => reject(new Error(`islb serve exited ${code}: ${out}`)));
    });
    assert.match(out, /exporting traces over OTLP\/HTTP/);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const { headers } = await import("nats");
    const h = headers();
    h.set("traceparent", `00-${traceId}-00f067aa0ba902b7-01`);
    const reply = await nc.request("nrpc.islb.ISLB.FindNode", new TextEncoder().encode('{"service":"rtc"}'), {
      timeout: 2000,
      headers: h,
    });
    assert.equal(reply.headers?.get("grpc-status"), "0");
    const until = Date.now() + 5000;
    while (Date.now() < until && !bodies.some((b) => b.includes(traceId))) await new Promise((r) => setTimeout(r, 50));
    const body = bodies.find((b) => b.includes(traceId));
    assert.ok(body !== undefined, `no exported span carries the caller's trace id (${bodies.length} exports)`);
    assert.match(body, /islb\.ISLB\/FindNode/);
    assert.match(body, /"service\.name"/);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await nc.close();
    await ns.stop();
    collector.close();
  }
});
