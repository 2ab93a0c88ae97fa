/**
 * What a peer can make a server hold is bounded (issue 9, item 4): open calls, compat calls
 * that never send their first message, and compat streams whose client vanished.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, createInbox, type NatsConnection } from "nats";
import { ClientError, Status, createClient, createServer } from "../../src/index.js";
import { decodeResponse, encodeRequest, encodeDataFrame, type Request } from "../../src/wire/frames.js";
import { CountRequest, TestDefinition } from "../../generated/testing/interop.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { eventually } from "../helpers/setup.js";
import { interopService } from "../helpers/services.js";

interface FloodStats {
  activeCalls: number;
  frameCalls: number;
  heapUsed: number;
  rss: number;
}

const callFrame = encodeRequest({
  call: { method: "/interop.test.Test/Count", metadata: undefined, nid: "", native: undefined },
} as Request);

/** A native Call frame of interop method `name`, its client declaring a keep-alive of `keepaliveMs`. */
const nativeCall = (name: string, keepaliveMs: number): Uint8Array =>
  encodeRequest({
    call: {
      method: `/interop.test.Test/${name}`,
      metadata: undefined,
      nid: "",
      native: { timeoutMs: 0, window: 65536, keepaliveMs, version: 1 },
    },
  } as Request);

describe("bounds on what a peer can make a server hold", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    await nc.close();
    await ns.stop();
  });

  test("50,000 compat opening frames are held to the bound, and the server's memory and tables return to the start", async (t) => {
    const script = fileURLToPath(new URL("../helpers/flood-server.js", import.meta.url));
    const child: ChildProcess = spawn(
      process.execPath,
      ["--expose-gc", script, ns.url, JSON.stringify({ compatStartMs: 1000 })],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await once(child.stdout as NodeJS.ReadableStream, "data");
      const stats = async (): Promise<FloodStats> =>
        JSON.parse(
          new TextDecoder().decode((await nc.request("flood.stats", undefined, { timeout: 10_000 })).data),
        ) as FloodStats;
      const start = await stats();
      const refused = { n: 0, dropped: 0 };
      const replies = createInbox();
      const sub = nc.subscribe(`${replies}.*`, {
        callback: (_e, m) => {
          const code = decodeResponse(m.data).end?.status?.code;
          if (code === Status.RESOURCE_EXHAUSTED) refused.n++;
          else if (code === Status.DEADLINE_EXCEEDED) refused.dropped++;
        },
      });
      let peak = 0;
      for (let i = 0; i < 50_000; i++) {
        nc.publish("nrpc.interop.test.Test.Count", callFrame, { reply: `${replies}.${i}` });
        if (i % 5000 === 4999) {
          await nc.flush();
          peak = Math.max(peak, (await stats()).frameCalls);
        }
      }
      await nc.flush();
      const during = await stats();
      peak = Math.max(peak, during.frameCalls);
      assert.ok(peak <= 10_000, `at most maxCalls (10,000) held, saw ${peak}`);
      // Each opening frame is answered: refused RESOURCE_EXHAUSTED past the bound, or dropped
      // DEADLINE_EXCEEDED when its first message did not follow within compatStartMs.
      assert.ok(
        await eventually(() => refused.n + refused.dropped === 50_000, 15_000),
        `every call answered (${JSON.stringify(refused)})`,
      );
      assert.ok(refused.n > 0 && refused.dropped > 0, JSON.stringify(refused));
      let end = await stats();
      const until = Date.now() + 15_000;
      while ((end.frameCalls !== 0 || end.activeCalls !== 0) && Date.now() < until) {
        await sleep(250);
        end = await stats();
      }
      sub.unsubscribe();
      assert.equal(end.frameCalls, 0, "every half-open call was dropped");
      assert.equal(end.activeCalls, 0);
      const grew = (end.heapUsed - start.heapUsed) / 1024 / 1024;
      const mb = (n: number): string => (n / 1048576).toFixed(1);
      t.diagnostic(
        `held at most ${peak}; heap after GC ${mb(start.heapUsed)} -> ${mb(during.heapUsed)} (flood) -> ${mb(end.heapUsed)} MB; RSS ${mb(start.rss)} -> ${mb(during.rss)} -> ${mb(end.rss)} MB; refused ${refused.n}, dropped ${refused.dropped}`,
      );
      assert.ok(
        grew < 8,
        `heap after GC back near the start: ${(start.heapUsed / 1048576).toFixed(1)} MB -> ${(end.heapUsed / 1048576).toFixed(1)} MB (peak held ${peak})`,
      );
    } finally {
      child.kill("SIGTERM");
    }
  });

  test("past maxCalls a new call is refused RESOURCE_EXHAUSTED at once", async () => {
    const snc = await connect({ servers: ns.url });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const server = createServer({ prefix: "busy", maxCalls: 2 }).add(TestDefinition, {
      ...interopService,
      async hello(req) {
        await gate;
        return req;
      },
    });
    await server.listen(snc);
    try {
      const client = createClient(TestDefinition, nc, { prefix: "busy" });
      const held = [client.hello({ i: 1 }), client.hello({ i: 2 })];
      await eventually(() => server.stats().activeCalls === 2);
      await assert.rejects(
        client.hello({ i: 3 }),
        (e) => e instanceof ClientError && e.code === Status.RESOURCE_EXHAUSTED && /2 calls/.test(e.details),
      );
      const stream = client.count({ n: 1 });
      await assert.rejects(
        async () => {
          for await (const _ of stream) void _;
        },
        (e) => e instanceof ClientError && e.code === Status.RESOURCE_EXHAUSTED,
      );
      release();
      assert.deepEqual(
        (await Promise.all(held)).map((r) => r.i),
        [1, 2],
      );
      assert.equal((await client.hello({ i: 4 })).i, 4, "calls are taken again once below the bound");
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("a compat stream whose client vanished ends at the next probe; a silent client still there keeps its stream", async () => {
    const snc = await connect({ servers: ns.url });
    const aborted: number[] = [];
    const server = createServer({ prefix: "gone", compatProbeMs: 200 }).add(TestDefinition, {
      ...interopService,
      async *count(req, ctx) {
        ctx.signal.addEventListener("abort", () => aborted.push(req.n));
        for (let i = 1; ; i++) {
          await sleep(20);
          if (ctx.signal.aborted) return;
          yield { i, msg: "" };
        }
      },
    });
    await server.listen(snc);
    try {
      const open = (n: number): { got: () => number; stop: () => void } => {
        const inbox = createInbox();
        let got = 0;
        const sub = nc.subscribe(inbox, {
          callback: (_e, m) => void (decodeResponse(m.data).data !== undefined ? got++ : undefined),
        });
        nc.publish("gone.interop.test.Test.Count", callFrame, { reply: inbox });
        nc.publish(
          "gone.interop.test.Test.Count",
          encodeDataFrame(CountRequest.encode({ n, prefix: "", failAt: 0, failCode: 0 }).finish()),
          { reply: inbox },
        );
        return { got: () => got, stop: () => sub.unsubscribe() };
      };
      const vanishing = open(1);
      const staying = open(2);
      assert.ok(await eventually(() => vanishing.got() > 3 && staying.got() > 3, 3000));
      vanishing.stop(); // gone: no End, no unsubscribe message to the server, nothing
      assert.ok(await eventually(() => aborted.includes(1), 3000), "the vanished client's stream was ended");
      assert.equal(server.stats().frameCalls, 1);
      const before = staying.got();
      await sleep(800); // four probe intervals of silence from the client that stays
      assert.ok(!aborted.includes(2), "a client still subscribed keeps its stream");
      assert.ok(staying.got() > before + 10, "and it keeps getting messages");
      staying.stop();
      assert.ok(await eventually(() => server.stats().frameCalls === 0, 3000));
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("native streams whose client declares no keep-alive (0) and goes silent end after three of the server's longest interval", async () => {
    const snc = await connect({ servers: ns.url });
    const server = createServer({ prefix: "ka0", maxPeerKeepaliveMs: 100 }).add(TestDefinition, interopService);
    await server.listen(snc);
    try {
      const frame = (keepaliveMs: number): Uint8Array => nativeCall("Sum", keepaliveMs);
      const inbox = createInbox();
      const sub = nc.subscribe(`${inbox}.*`, { callback: () => undefined });
      // Twenty calls that declare no keep-alive, and one that declares a day: then silence.
      for (let i = 0; i < 20; i++) nc.publish("ka0.interop.test.Test.Sum", frame(0), { reply: `${inbox}.${i}` });
      nc.publish("ka0.interop.test.Test.Sum", frame(86_400_000), { reply: `${inbox}.day` });
      assert.ok(await eventually(() => server.stats().frameCalls === 21, 3000), "taken");
      assert.ok(
        await eventually(() => server.stats().frameCalls === 0 && server.stats().activeCalls === 0, 3000),
        `held to 3 x 100 ms of silence, not forever (${JSON.stringify(server.stats())})`,
      );
      sub.unsubscribe();
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("a server stream blocked on flow control, behind a middleware, runs its handler's finally when the client cancels", async () => {
    const snc = await connect({ servers: ns.url });
    let cleaned = 0;
    const server = createServer({ prefix: "fcleak" })
      .add(TestDefinition, {
        ...interopService,
        async *count() {
          try {
            for (let i = 1; ; i++) yield { i, msg: "x".repeat(2000) };
          } finally {
            cleaned++;
          }
        },
      })
      .use(async function* passthrough(call, context) {
        return yield* call.next(call.request, context);
      });
    await server.listen(snc);
    try {
      const client = createClient(TestDefinition, nc, { prefix: "fcleak", window: 1024 });
      for (let k = 0; k < 5; k++) {
        const ac = new AbortController();
        const it = client.count({ n: 0 }, { signal: ac.signal })[Symbol.asyncIterator]();
        await it.next(); // then read no more: the handler waits for credit
        await sleep(100);
        ac.abort();
        await it.next().catch(() => undefined);
      }
      assert.ok(await eventually(() => cleaned === 5, 3000), `every handler ended (${cleaned} of 5)`);
      assert.equal(server.stats().activeCalls, 0);
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("what all calls hold unread is bounded by maxBufferedBytes: past it a call ends RESOURCE_EXHAUSTED, and the bytes come back", async () => {
    const snc = await connect({ servers: ns.url });
    const server = createServer({ prefix: "budget", maxBufferedBytes: 64 * 1024 }).add(TestDefinition, {
      ...interopService,
      // Reads nothing until the call ends: every message it is sent stays unread.
      async sum(_requests, ctx) {
        await new Promise((r) => ctx.signal.addEventListener("abort", r));
        return { total: 0, count: 0, msgs: [] };
      },
    });
    await server.listen(snc);
    try {
      const client = createClient(TestDefinition, nc, { prefix: "budget" });
      const big = { i: 0, msg: "y".repeat(40 * 1024) };
      async function* one(): AsyncGenerator<typeof big> {
        yield big;
        await sleep(60_000, undefined, { ref: false });
      }
      const first = new AbortController();
      const held = client.sum(one(), { signal: first.signal }).catch((e: unknown) => e);
      assert.ok(await eventually(() => server.stats().bufferedBytes > 40 * 1024, 3000), "the first call holds 40 KiB");
      await assert.rejects(
        client.sum(one()),
        (e) =>
          e instanceof ClientError &&
          e.code === Status.RESOURCE_EXHAUSTED &&
          /hold 65536 bytes of waiting messages/.test(e.details),
      );
      first.abort();
      await held;
      assert.ok(await eventually(() => server.stats().bufferedBytes === 0, 3000), "given back when the call ends");
      const again = new AbortController();
      const third = client.sum(one(), { signal: again.signal }).catch((e: unknown) => e);
      assert.ok(await eventually(() => server.stats().bufferedBytes > 40 * 1024, 3000), "taken again");
      again.abort();
      await third;
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("the budget counts the request a handler holds and the responses its client has no room for", async () => {
    const snc = await connect({ servers: ns.url });
    const server = createServer({ prefix: "budget2", maxBufferedBytes: 64 * 1024 }).add(TestDefinition, {
      ...interopService,
      // Answers each message three times, doubled: the client reads the first (granting room for
      // the second, which it then holds unread); the third waits for credit it never gives.
      async *chat(requests) {
        for await (const r of requests) {
          const twice = { i: r.i, msg: r.msg + r.msg };
          yield twice;
          yield twice;
          yield twice;
        }
      },
    });
    await server.listen(snc);
    try {
      const client = createClient(TestDefinition, nc, { prefix: "budget2", window: 1024 });
      const msg = "z".repeat(20 * 1024);
      async function* one(): AsyncGenerator<{ i: number; msg: string }> {
        yield { i: 1, msg };
        await sleep(60_000, undefined, { ref: false });
      }
      const first = new AbortController();
      const held = client.chat(one(), { signal: first.signal })[Symbol.asyncIterator]();
      await held.next(); // the third answer waits: 20 KiB in the handler's hand, 40 KiB for credit
      assert.ok(await eventually(() => server.stats().bufferedBytes >= 60 * 1024, 3000), "both counted");
      const second = client.chat(one())[Symbol.asyncIterator]();
      await assert.rejects(
        second.next(),
        (e) => e instanceof ClientError && e.code === Status.RESOURCE_EXHAUSTED && /waiting messages/.test(e.details),
      );
      first.abort();
      await held.next().catch(() => undefined);
      assert.ok(await eventually(() => server.stats().bufferedBytes === 0, 3000), "given back when the call ends");
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("a native call of a single-request method whose request never comes ends after compatStartMs", async () => {
    const snc = await connect({ servers: ns.url });
    const server = createServer({ prefix: "noreq", compatStartMs: 200, maxPeerKeepaliveMs: 60_000 }).add(
      TestDefinition,
      interopService,
    );
    await server.listen(snc);
    try {
      const frame = nativeCall("Count", 60_000);
      const inbox = createInbox();
      let ended = 0;
      const sub = nc.subscribe(`${inbox}.*`, {
        callback: (_e, m) => {
          if (decodeResponse(m.data).end?.status?.code === Status.DEADLINE_EXCEEDED) ended++;
        },
      });
      for (let i = 0; i < 10; i++) nc.publish("noreq.interop.test.Test.Count", frame, { reply: `${inbox}.${i}` });
      assert.ok(await eventually(() => server.stats().frameCalls === 10, 3000), "taken");
      assert.ok(
        await eventually(() => server.stats().frameCalls === 0 && ended === 10, 3000),
        `ended without their request (${ended} of 10; ${JSON.stringify(server.stats())})`,
      );
      sub.unsubscribe();
    } finally {
      await server.close();
      await snc.close();
    }
  });

  test("our compat client ignores the probes of a long quiet stream and reads it to its end", async () => {
    const snc = await connect({ servers: ns.url });
    const server = createServer({ prefix: "probed", compatProbeMs: 50 }).add(TestDefinition, {
      ...interopService,
      async *count(req) {
        for (let i = 1; i <= req.n; i++) {
          await sleep(150);
          yield { i, msg: "" };
        }
      },
    });
    await server.listen(snc);
    try {
      const client = createClient(TestDefinition, nc, { prefix: "probed", wire: "nats-grpc" });
      const got = [];
      for await (const r of client.count({ n: 4 }, { deadline: 5000 })) got.push(r.i);
      assert.deepEqual(got, [1, 2, 3, 4]);
    } finally {
      await server.close();
      await snc.close();
    }
  });
});
