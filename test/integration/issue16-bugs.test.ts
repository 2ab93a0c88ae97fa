/**
 * The two bugs of issue 16: a streamed response over the size limit reaches the client as
 * RESOURCE_EXHAUSTED (it was UNKNOWN), and a deadline further than 2^31 ms does not fire at
 * once (the timers overflowed). Also: errors keep their cause, and an unexpected handler
 * error is logged by default.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { retryMiddleware } from "nice-grpc-client-middleware-retry";
import {
  ClientError,
  Metadata,
  ServerError,
  Status,
  createClient,
  createClientFactory,
  createServer,
  type NatsServer,
} from "../../src/index.js";
import { MetadataError } from "../../src/metadata.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { interopService } from "../helpers/services.js";
import { startEnv, type Env } from "../helpers/setup.js";

const THIRTY_DAYS = 30 * 86_400_000;

describe("issue 16 bugs", () => {
  let env: Env;
  let big: NatsServer;
  before(async () => {
    env = await startEnv();
    big = createServer({ prefix: "big", maxMessageBytes: 1024 }).add(TestDefinition, {
      ...interopService,
      async *count(req) {
        yield { i: 1, msg: "small" };
        yield { i: 2, msg: "x".repeat(req.n) };
      },
    });
    await big.listen(env.snc);
  });
  after(async () => {
    await big.close();
    await env.close();
  });

  for (const wire of ["native", "nats-grpc"] as const) {
    test(`a streamed response over the size limit is RESOURCE_EXHAUSTED (${wire})`, async () => {
      const client = createClient(TestDefinition, env.nc, { prefix: "big", wire });
      const got: string[] = [];
      await assert.rejects(
        async () => {
          for await (const r of client.count({ n: 4096 })) got.push(r.msg);
        },
        (e) =>
          e instanceof ClientError && e.code === Status.RESOURCE_EXHAUSTED && /over the limit of 1024/.test(e.details),
      );
      assert.deepEqual(got, ["small"]);
    });
  }

  test("a deadline 30 days away does not fire at once (unary, native stream, compat)", async () => {
    const c = createClient(TestDefinition, env.nc);
    assert.deepEqual(await c.hello({ i: 1, msg: "a" }, { deadline: THIRTY_DAYS }), { i: 2, msg: "a world" });
    assert.deepEqual(await c.hello({ i: 1, msg: "b" }, { deadline: new Date(Date.now() + THIRTY_DAYS) }), {
      i: 2,
      msg: "b world",
    });
    const slow = createServer({ prefix: "slow30" }).add(TestDefinition, {
      ...interopService,
      async *count(req) {
        for (let i = 1; i <= req.n; i++) {
          await new Promise((r) => setTimeout(r, 10));
          yield { i, msg: "" };
        }
      },
    });
    await slow.listen(env.snc);
    try {
      for (const wire of ["native", "nats-grpc"] as const) {
        const s = createClient(TestDefinition, env.nc, { prefix: "slow30", wire });
        const n = [];
        for await (const r of s.count({ n: 5 }, { deadline: THIRTY_DAYS })) n.push(r.i);
        assert.deepEqual(n, [1, 2, 3, 4, 5], wire);
      }
      // the server side of a unary call: grpc-timeout of 30 days
      const h = await c.hello({ i: 5, msg: "c" }, { deadline: THIRTY_DAYS, metadata: undefined });
      assert.equal(h.i, 6);
    } finally {
      await slow.close();
    }
  });

  test("errors keep their cause: metadata that cannot be sent is the call's ClientError, caused by a MetadataError", async () => {
    const c = createClient(TestDefinition, env.nc);
    const md = Metadata();
    md.set("x-text", "caf\u00e9");
    for (const call of [
      () => c.hello({ i: 1 }, { metadata: md }),
      () => c.hello({ i: 1 }, { metadata: md, deadline: 1000 }),
    ]) {
      await assert.rejects(
        call(),
        (e) =>
          e instanceof ClientError &&
          e.code === Status.INTERNAL &&
          (e as Error & { cause?: unknown }).cause instanceof MetadataError,
      );
    }
    const s = createClient(TestDefinition, env.nc);
    await assert.rejects(
      async () => {
        for await (const _ of s.count({ n: 1 }, { metadata: md })) void _;
      },
      (e) => e instanceof ClientError && (e as Error & { cause?: unknown }).cause instanceof MetadataError,
    );
  });

  test("by default, a handler that throws something unexpected gives UNKNOWN and logs an error line to stderr", async () => {
    const server = createServer({ prefix: "logged" }).add(TestDefinition, {
      ...interopService,
      async hello() {
        throw new TypeError("the handler broke");
      },
    });
    await server.listen(env.snc);
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(String(chunk));
      return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      const c = createClient(TestDefinition, env.nc, { prefix: "logged" });
      await assert.rejects(
        c.hello({ i: 1 }),
        (e) => e instanceof ClientError && e.code === Status.UNKNOWN && e.details === "Unknown server error occurred",
      );
    } finally {
      process.stderr.write = write;
      await server.close();
    }
    const line = lines.find((l) => l.includes("handler threw"));
    assert.ok(line !== undefined, JSON.stringify(lines));
    assert.match(line, /ERROR handler threw /);
    assert.match(line, /TypeError: the handler broke/);
    assert.match(line, /method="\/interop\.test\.Test\/Hello"/);
  });

  test("a client factory runs the middleware it was given, with its typed call options (retry)", async () => {
    let calls = 0;
    const flaky = createServer({ prefix: "flaky" }).add(TestDefinition, {
      ...interopService,
      async hello(req) {
        if (++calls < 3) throw new ServerError(Status.UNAVAILABLE, "not yet");
        return req;
      },
    });
    await flaky.listen(env.snc);
    try {
      const plain = createClient(TestDefinition, env.nc, { prefix: "flaky" });
      await assert.rejects(plain.hello({ i: 1 }), (e) => e instanceof ClientError && e.code === Status.UNAVAILABLE);
      const client = createClientFactory().use(retryMiddleware).create(TestDefinition, env.nc, { prefix: "flaky" });
      assert.equal((await client.hello({ i: 7 }, { retry: true, retryMaxAttempts: 3, retryBaseDelayMs: 1 })).i, 7);
      assert.equal(calls, 3);
    } finally {
      await flaky.close();
    }
  });
});
