/** islb's call metrics: unary calls counted without a middleware (they keep the fast path), streams through nice-grpc-prometheus's. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import type { ServerMiddleware } from "nice-grpc-common";
import { ClientError, Status, createClient, createServer } from "../../src/index.js";
import { callMetrics } from "../../src/app/call-metrics.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { collect, startEnv, type Env } from "../helpers/setup.js";

let env: Env;
before(async () => {
  env = await startEnv();
});
after(() => env.close());

const line = (text: string, name: string, method: string, extra = ""): number | undefined => {
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, "gm");
  for (const m of text.matchAll(re)) {
    const labels = m[1] as string;
    if (labels.includes(`grpc_method="${method}"`) && labels.includes(extra)) return Number(m[2]);
  }
  return undefined;
};

test("unary calls are counted by code with their handling time, on the fast path; streams by the middleware", async () => {
  const registry = new Registry();
  const metrics = callMetrics(registry);
  let unaryThroughMiddleware = 0;
  const spy: ServerMiddleware = async function* (call, ctx) {
    if (!call.method.requestStream && !call.method.responseStream) unaryThroughMiddleware++;
    return yield* call.next(call.request, ctx);
  };
  const server = createServer({ prefix: "cm" })
    .use(metrics.middleware, { unary: false })
    .use(spy, { unary: false })
    .observeUnary(metrics.unary);
  server.add(TestDefinition, (await import("../helpers/services.js")).interopService);
  await server.listen(env.snc);
  try {
    const client = createClient(TestDefinition, env.nc, { prefix: "cm" });
    for (let i = 0; i < 3; i++) assert.equal((await client.hello({ i, msg: "" }, { deadline: 5000 })).i, i + 1);
    await assert.rejects(
      client.fail({ code: Status.NOT_FOUND, message: "x" }),
      (e: unknown) => e instanceof ClientError && e.code === Status.NOT_FOUND,
    );
    assert.deepEqual(
      (await collect(client.count({ n: 2, prefix: "p" }))).map((r) => r.msg),
      ["p-1", "p-2"],
    );
    // The unary calls skipped the middleware added with unary: false.
    assert.equal(unaryThroughMiddleware, 0);
    const text = await registry.metrics();
    assert.equal(line(text, "grpc_server_started_total", "Hello", 'grpc_type="unary"'), 3);
    assert.equal(line(text, "grpc_server_handled_total", "Hello", 'grpc_code="OK"'), 3);
    assert.equal(line(text, "grpc_server_handled_total", "Fail", 'grpc_code="NOT_FOUND"'), 1);
    assert.equal(line(text, "grpc_server_handling_seconds_count", "Hello", 'grpc_code="OK"'), 3);
    assert.equal(line(text, "grpc_server_handling_seconds_bucket", "Hello", 'le="+Inf"'), 3);
    assert.equal(line(text, "grpc_server_handled_total", "Count", 'grpc_type="server_stream"'), 1);
    assert.equal(line(text, "grpc_server_msg_sent_total", "Count"), 2);
    assert.equal(line(text, "grpc_server_handling_seconds_count", "Count", 'grpc_code="OK"'), 1);
    // Counted once: a second scrape without calls reads the same totals.
    const again = await registry.metrics();
    assert.equal(line(again, "grpc_server_handled_total", "Hello", 'grpc_code="OK"'), 3);
    assert.equal(line(again, "grpc_server_started_total", "Hello"), 3);
    await client.hello({ i: 0, msg: "" });
    assert.equal(line(await registry.metrics(), "grpc_server_handled_total", "Hello", 'grpc_code="OK"'), 4);
  } finally {
    await server.close();
  }
});
