/**
 * Per-call identifiers on the bus are unguessable and frames are bound to their call's peer
 * (issue 9, item 3): forged frames to another client's stream are ignored, a forged reply to a
 * predicted reply subject is never delivered, and tokens are not sequential.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, createInbox, type Msg, type NatsConnection } from "nats";
import { createClient, createServer, type NatsServer } from "../../src/index.js";
import { OK_PROTO } from "../../src/metadata.js";
import { decodeResponse, encodeRequest, encodeDataFrame, type Request } from "../../src/wire/frames.js";
import { RANDOM_CHARS } from "../../src/transport/tokens.js";
import { CountReply, TestDefinition } from "../../generated/testing/interop.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { interopService } from "../helpers/services.js";

/** A stream of requests the test pushes one by one. */
function pushable<T>(): { iterable: AsyncIterable<T>; push(x: T): void; end(): void } {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length > 0) yield queue.shift() as T;
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
        }
      },
    },
    push(x) {
      queue.push(x);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

const cancelFrame = encodeRequest({
  end: { status: { code: 1, message: "forged", details: [] }, trailer: undefined },
} as Request);
const halfClose = encodeRequest({ end: { status: undefined, trailer: undefined } } as Request);
const forgedData = encodeDataFrame(CountReply.encode({ i: 666, msg: "forged" }).finish());

describe("per-call tokens and peer binding", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let snc: NatsConnection;
  /** The attacker: a bus user without permissions (it sees every subject). */
  let evil: NatsConnection;
  let server: NatsServer;
  before(async () => {
    ns = await startNatsServer();
    [nc, snc, evil] = await Promise.all([
      connect({ servers: ns.url }),
      connect({ servers: ns.url }),
      connect({ servers: ns.url }),
    ]);
    server = createServer({ nid: "t1" }).add(TestDefinition, interopService);
    await server.listen(snc);
  });
  after(async () => {
    await server.close();
    await Promise.all([nc.close(), snc.close(), evil.close()]);
    await ns.stop();
  });

  test("forged End and Data frames to another client's native stream are ignored: the stream keeps going", async () => {
    const accepts: Msg[] = [];
    const sniff = evil.subscribe("_INBOX.>", {
      callback: (_e, m) => void (m.data.length > 0 && m.data[0] === 0x52 ? accepts.push(m) : undefined),
    });
    const client = createClient(TestDefinition, nc);
    const requests = pushable<{ i: number; msg: string }>();
    const it = client.chat(requests.iterable, { deadline: 5000 })[Symbol.asyncIterator]();
    requests.push({ i: 1, msg: "a" });
    assert.deepEqual((await it.next()).value, { i: 1, msg: "a!" });
    await evil.flush();
    assert.ok(accepts.length >= 1, "the attacker saw the Accept");
    const accept = accepts[accepts.length - 1] as Msg;
    assert.ok(decodeResponse(accept.data).accept !== undefined);
    const callSubject = accept.reply as string;
    const base = callSubject.slice(0, callSubject.lastIndexOf(".") + 1);
    const own = createInbox();
    // Guessing: the call ids the old sequential scheme would have used.
    for (let n = 0; n < 50; n++) evil.publish(`${base}${n.toString(36)}`, cancelFrame, { reply: own });
    // Knowing the call's own subject (sniffed), but not sending as its peer.
    evil.publish(callSubject, cancelFrame, { reply: own });
    evil.publish(callSubject, forgedData, { reply: own });
    evil.publish(callSubject, halfClose, { reply: own });
    await evil.flush();
    await sleep(100);
    requests.push({ i: 2, msg: "b" });
    const next = await it.next();
    assert.deepEqual(next.value, { i: 2, msg: "b!" }, "the stream goes on, and the forged Data was not answered");
    requests.end();
    assert.equal((await it.next()).done, true);
    sniff.unsubscribe();
  });

  test("a forged compat frame on another subject than the call's does not act on it", async () => {
    const client = createClient(TestDefinition, nc, { wire: "nats-grpc", compatGapMs: 0 });
    const calls: Msg[] = [];
    const sniff = evil.subscribe("nrpc.interop.test.Test.Chat", { callback: (_e, m) => void calls.push(m) });
    await evil.flush();
    const requests = pushable<{ i: number; msg: string }>();
    const it = client.chat(requests.iterable, { deadline: 5000 })[Symbol.asyncIterator]();
    requests.push({ i: 1, msg: "a" });
    assert.deepEqual((await it.next()).value, { i: 1, msg: "a!" });
    const reply = calls[0]?.reply as string;
    assert.ok(reply !== undefined && reply.length > RANDOM_CHARS);
    // The call lives on the service subject; the same reply subject on the node's subject is another call.
    evil.publish("nrpc.t1.interop.test.Test.Chat", cancelFrame, { reply });
    await evil.flush();
    await sleep(100);
    requests.push({ i: 2, msg: "b" });
    assert.deepEqual((await it.next()).value, { i: 2, msg: "b!" });
    requests.end();
    assert.equal((await it.next()).done, true);
    sniff.unsubscribe();
  });

  test("a forged reply to a predicted reply subject is not delivered", async () => {
    // A rogue node learns the client's reply subject from a call it receives...
    let seen = "";
    const rogue = createServer({ nid: "rogue" }).add(TestDefinition, {
      ...interopService,
      async hello(req, ctx) {
        seen = ctx.peer.replace(/^nats:/, "");
        return { i: req.i, msg: "rogue" };
      },
    });
    await rogue.listen(evil);
    // ...and the honest server is slow to answer the next call.
    const slow = createServer({ prefix: "slow" }).add(TestDefinition, {
      ...interopService,
      async hello(req) {
        await sleep(300);
        return { i: req.i, msg: "honest" };
      },
    });
    await slow.listen(snc);
    try {
      await createClient(TestDefinition, nc, { nid: "rogue" }).hello({ i: 1, msg: "x" });
      assert.ok(seen.length > 0);
      const base = seen.slice(0, seen.lastIndexOf(".") + 1);
      const token = seen.slice(base.length);
      const seq = parseInt(token.slice(0, token.length - RANDOM_CHARS), 36);
      const key = token.slice(token.length - RANDOM_CHARS);
      assert.ok(Number.isInteger(seq), token);
      const answer = createClient(TestDefinition, nc, { prefix: "slow" }).hello({ i: 2, msg: "y" });
      await sleep(50);
      const forged = CountReply.encode({ i: 2, msg: "forged" }).finish();
      for (let n = seq + 1; n <= seq + 30; n++) {
        // the next tokens with the key seen, and the old sequential form
        evil.publish(`${base}${n.toString(36)}${key}`, forged, { headers: OK_PROTO });
        evil.publish(`${base}${n.toString(36)}`, forged, { headers: OK_PROTO });
      }
      await evil.flush();
      assert.equal((await answer).msg, "honest");
    } finally {
      await rogue.close();
      await slow.close();
    }
  });

  test("reply subjects and per-call subjects end in fresh random tokens, not a sequence", async () => {
    const peers: string[] = [];
    const echo = createServer({ prefix: "peer" }).add(TestDefinition, {
      ...interopService,
      async hello(req, ctx) {
        peers.push(ctx.peer.replace(/^nats:/, ""));
        return req;
      },
    });
    await echo.listen(snc);
    const accepts: string[] = [];
    const sniff = evil.subscribe("_INBOX.>", {
      callback: (_e, m) => {
        if (m.reply !== undefined && m.reply !== "" && m.data.length > 0) {
          try {
            if (decodeResponse(m.data).accept !== undefined) accepts.push(m.reply);
          } catch {
            /* not a frame */
          }
        }
      },
    });
    try {
      const client = createClient(TestDefinition, nc, { prefix: "peer" });
      for (let i = 0; i < 100; i++) await client.hello({ i, msg: "" });
      const streams = createClient(TestDefinition, nc);
      for (let i = 0; i < 20; i++) for await (const _ of streams.count({ n: 1 })) void _;
      await evil.flush();
      const keyOf = (s: string) => s.slice(s.length - RANDOM_CHARS);
      for (const [what, subjects, n] of [
        ["reply subjects", peers, 100],
        ["per-call subjects", accepts, 20],
      ] as const) {
        assert.equal(subjects.length, n, what);
        const keys = subjects.map(keyOf);
        assert.equal(new Set(keys).size, n, `${what}: every random part is new`);
        for (const k of keys) assert.match(k, /^[A-Za-z0-9_-]{16}$/u);
        // no two consecutive keys share a prefix the way a counter's digits would
        const samePrefix = keys.slice(1).filter((k, i) => k.slice(0, 8) === (keys[i] as string).slice(0, 8)).length;
        assert.equal(samePrefix, 0, what);
      }
    } finally {
      sniff.unsubscribe();
      await echo.close();
    }
  });
});
