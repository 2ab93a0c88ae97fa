/** Native streams: flow control, keep-alive, cancellation, leaks, middleware, drain. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { isAbortError } from "abort-controller-x";
import { deadlineMiddleware } from "nice-grpc-client-middleware-deadline";
import { prometheusClientMiddleware, prometheusServerMiddleware, registry } from "nice-grpc-prometheus";
import { ClientError, Status, createClient, createServer } from "../../src/index.js";
import { muxFor } from "../../src/transport/mux.js";
import { TestDefinition, type CountReply } from "../../generated/testing/interop.js";
import { TestServiceDefinition } from "../../generated/testing/test.js";
import { collect, eventually, items, startEnv, type Env } from "../helpers/setup.js";
import { startNatsServer } from "../helpers/nats-server.js";

const subscriptions = (nc: unknown): number =>
  (nc as { protocol: { subscriptions: { size(): number } } }).protocol.subscriptions.size();

describe("native streams", () => {
  let env: Env;
  before(async () => {
    env = await startEnv({ window: 16 * 1024 });
  });
  after(() => env.close());

  test("a reader that stops reading stops the server's handler (flow control, server to client)", async () => {
    let produced = 0;
    const server = createServer({ prefix: "fc" });
    server.add(TestDefinition, {
      async *count() {
        for (let i = 1; i <= 10_000; i++) {
          produced = i;
          yield { i, msg: "" };
        }
      },
    } as never);
    await server.listen(env.snc);
    try {
      // A window of 4 KiB holds at most 4096 / 32 messages (each costs its bytes and 32).
      const client = createClient(TestDefinition, env.nc, { prefix: "fc", window: 4096 });
      const it = client.count({ n: 10_000 })[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.i, 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(produced <= 4096 / 32 + 3, `the handler ran ahead by ${produced} messages with a window of 4 KiB`);
      let n = 1;
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        n++;
        assert.equal(r.value.i, n);
      }
      assert.equal(n, 10_000);
    } finally {
      await server.close();
    }
  });

  test("a handler that stops reading stops the client's request stream (flow control, client to server)", async () => {
    let pulled = 0;
    let release: (() => void) | undefined;
    const server = createServer({ prefix: "fc2", window: 1024 });
    server.add(TestDefinition, {
      async sum(requests: AsyncIterable<CountReply>) {
        await new Promise<void>((r) => (release = r));
        let count = 0;
        for await (const _ of requests) count++;
        return { total: 0, count, msgs: [] };
      },
    } as never);
    await server.listen(env.snc);
    try {
      const client = createClient(TestDefinition, env.nc, { prefix: "fc2" });
      async function* many(): AsyncGenerator<Partial<CountReply>> {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield { i };
        }
      }
      const p = client.sum(many());
      await eventually(() => release !== undefined);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(pulled <= 1024 / 32 + 3, `the client sent ${pulled} requests into a window of 1 KiB`);
      release?.();
      assert.equal((await p).count, 1000);
    } finally {
      await server.close();
    }
  });

  test("a stream that ends with an error status delivers the messages sent before it", async () => {
    const client = createClient(TestDefinition, env.nc);
    for (let round = 0; round < 20; round++) {
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const r of client.count({ n: 10, prefix: "p", failAt: 4, failCode: Status.ABORTED }))
            got.push(r.msg);
        })(),
        (e: unknown) => e instanceof ClientError && e.code === Status.ABORTED,
      );
      assert.deepEqual(got, ["p-1", "p-2", "p-3"]);
    }
  });

  test("10,000 cancelled or timed-out calls leave no subscription and no call state behind", async () => {
    const client = createClient(TestServiceDefinition, env.nc);
    const mux = muxFor(env.nc);
    await client.emptyCall({}); // the mux exists from here on
    const subsBefore = subscriptions(env.nc);
    const serverSubsBefore = subscriptions(env.snc);
    const sleeping = {
      responseParameters: [{ size: 1, intervalUs: 5_000_000 }],
      payload: undefined,
      responseStatus: undefined,
    };
    for (let batch = 0; batch < 20; batch++) {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 250; i++) {
        // timed out: a server stream that sleeps past the deadline
        calls.push(
          collect(client.streamingOutputCall(sleeping, { deadline: 30 })).then(
            () => assert.fail("should time out"),
            (e: unknown) => assert.ok(e instanceof ClientError && e.code === Status.DEADLINE_EXCEEDED),
          ),
        );
        // cancelled: a bidi stream aborted after it started
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 10);
        calls.push(
          collect(client.fullDuplexCall(items([sleeping]), { signal: ac.signal })).then(
            () => assert.fail("should be cancelled"),
            (e: unknown) => assert.ok(isAbortError(e)),
          ),
        );
      }
      await Promise.all(calls);
    }
    assert.ok(
      await eventually(() => env.server.stats().activeCalls === 0 && env.server.stats().frameCalls === 0),
      JSON.stringify(env.server.stats()),
    );
    assert.equal(mux.size, 0, "no call left in the client's inbox mux");
    assert.equal(subscriptions(env.nc), subsBefore);
    assert.equal(subscriptions(env.snc), serverSubsBefore);
  });

  test("a stream whose server process is killed fails UNAVAILABLE within 2 s", async () => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL("../helpers/child-server.js", import.meta.url)), env.ns.url, "victim"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout?.once("data", () => resolve());
        child.once("exit", (c) => reject(new Error(`child exited ${c}`)));
      });
      const client = createClient(TestServiceDefinition, env.nc, { nid: "victim" });
      const it = client
        .fullDuplexCall(
          items([
            {
              responseParameters: [
                { size: 1, intervalUs: 0 },
                { size: 1, intervalUs: 60_000_000 },
              ],
              payload: undefined,
              responseStatus: undefined,
            },
          ]),
        )
        [Symbol.asyncIterator]();
      assert.equal((await it.next()).done, false);
      const t0 = Date.now();
      child.kill("SIGKILL");
      await assert.rejects(it.next(), (e: unknown) => e instanceof ClientError && e.code === Status.UNAVAILABLE);
      const took = Date.now() - t0;
      assert.ok(took < 2000, `noticed after ${took} ms`);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("middleware from npm: prometheus on both sides, the deadline middleware on the client", async () => {
    const server = createServer({ prefix: "mw" }).use(prometheusServerMiddleware());
    server.add(TestDefinition, (await import("../helpers/services.js")).interopService);
    await server.listen(env.snc);
    try {
      const client = createClient(TestDefinition, env.nc, {
        prefix: "mw",
        middleware: [prometheusClientMiddleware(), deadlineMiddleware],
      });
      assert.equal((await client.hello({ i: 1 }, { deadline: 1000 } as never)).i, 2);
      await assert.rejects(
        client.fail({ code: Status.NOT_FOUND, message: "x" }),
        (e: unknown) => e instanceof ClientError && e.code === Status.NOT_FOUND,
      );
      assert.deepEqual(
        (await collect(client.count({ n: 3, prefix: "p" }))).map((r) => r.msg),
        ["p-1", "p-2", "p-3"],
      );
      const metrics = await registry.metrics();
      assert.match(metrics, /grpc_server_handled_total\{[^}]*grpc_method="Hello"[^}]*grpc_code="OK"[^}]*\} 1/);
      assert.match(metrics, /grpc_server_handled_total\{[^}]*grpc_method="Fail"[^}]*grpc_code="NOT_FOUND"[^}]*\} 1/);
      assert.match(metrics, /grpc_client_handled_total\{[^}]*grpc_method="Count"[^}]*grpc_code="OK"[^}]*\} 1/);
    } finally {
      await server.close();
    }
  });

  test("close() lets calls in progress finish and refuses new ones", async () => {
    const server = createServer({ prefix: "dr", drainMs: 3000 });
    server.add(TestServiceDefinition, (await import("../helpers/services.js")).testService as never);
    await server.listen(env.snc);
    const client = createClient(TestServiceDefinition, env.nc, { prefix: "dr" });
    const slow = collect(
      client.streamingOutputCall({
        responseParameters: [{ size: 5, intervalUs: 300_000 }],
        payload: undefined,
        responseStatus: undefined,
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close();
    const done = await slow;
    assert.equal(done.length, 1, "the call in progress completed during the drain");
    await closing;
    await assert.rejects(
      client.emptyCall({}),
      (e: unknown) => e instanceof ClientError && e.code === Status.UNAVAILABLE,
    );
  });
});

test("a NATS server that dies fails streams UNAVAILABLE at once", async () => {
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url, reconnectTimeWait: 50 });
  const snc = await connect({ servers: ns.url, reconnectTimeWait: 50 });
  const server = createServer();
  server.add(TestServiceDefinition, (await import("../helpers/services.js")).testService as never);
  await server.listen(snc);
  try {
    const client = createClient(TestServiceDefinition, nc);
    const it = client
      .streamingOutputCall({
        responseParameters: [
          { size: 1, intervalUs: 0 },
          { size: 1, intervalUs: 60_000_000 },
        ],
        payload: undefined,
        responseStatus: undefined,
      })
      [Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    const t0 = Date.now();
    await ns.kill();
    await assert.rejects(it.next(), (e: unknown) => e instanceof ClientError && e.code === Status.UNAVAILABLE);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await ns.stop();
    await nc.close().catch(() => {});
    await snc.close().catch(() => {});
  }
});

test("a nats-grpc compat call whose client vanished is cancelled after the idle limit", async () => {
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  const server = createServer({ compatIdleMs: 300 });
  let aborted = false;
  server.add(TestDefinition, {
    async *chat(requests: AsyncIterable<CountReply>, ctx: { signal: AbortSignal }) {
      ctx.signal.addEventListener("abort", () => (aborted = true));
      for await (const r of requests) yield r;
    },
  } as never);
  await server.listen(nc);
  try {
    const { encodeRequest } = await import("../../src/wire/frames.js");
    // A Go client's Call and one Data, then silence (its process died).
    nc.publish(
      "nrpc.interop.test.Test.Chat",
      encodeRequest({ call: { method: "x", metadata: undefined, nid: "", native: undefined } } as never),
      { reply: "_INBOX.gone.1" },
    );
    nc.publish("nrpc.interop.test.Test.Chat", encodeRequest({ data: { data: Buffer.from([0x08, 0x01]) } } as never), {
      reply: "_INBOX.gone.1",
    });
    await nc.flush();
    assert.ok(await eventually(() => server.stats().frameCalls === 1, 1000));
    assert.ok(await eventually(() => server.stats().frameCalls === 0 && aborted, 3000), JSON.stringify(server.stats()));
  } finally {
    await server.close();
    await nc.close();
    await ns.stop();
  }
});
