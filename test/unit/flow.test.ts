import { test } from "node:test";
import assert from "node:assert/strict";
import { Credit, Grants, MessageQueue } from "../../src/transport/flow.js";

test("the queue bounds the total cost of what it holds", () => {
  const q = new MessageQueue<string>(100);
  assert.equal(q.push("a", 60), true);
  assert.equal(q.push("b", 50), false, "110 > 100");
  assert.equal(q.push("c", 40), true);
});

test("the message queue is bounded, ordered, and ends after what it holds", async () => {
  let reads = 0;
  const q = new MessageQueue<number>(2, () => reads++);
  assert.equal(q.push(1), true);
  assert.equal(q.push(2), true);
  assert.equal(q.push(3), false, "over capacity");
  q.end();
  assert.equal(q.push(4), false, "closed");
  const got: number[] = [];
  for await (const x of q) got.push(x);
  assert.deepEqual(got, [1, 2]);
  assert.equal(reads, 2);
});

test("a waiting reader gets pushed messages at once; fail rejects it", async () => {
  const q = new MessageQueue<number>(1);
  const it = q[Symbol.asyncIterator]();
  const p = it.next();
  q.push(7);
  assert.deepEqual(await p, { value: 7, done: false });
  const p2 = it.next();
  q.fail(new Error("boom"));
  await assert.rejects(p2, /boom/);
});

test("a reader that stops early is reported once", async () => {
  let returned = 0;
  const q = new MessageQueue<number>(4, undefined, () => returned++);
  q.push(1);
  q.push(2);
  for await (const _ of q) break;
  assert.equal(returned, 1);
});

test("credit blocks the sender at zero until granted; grants come after a quarter of the window", async () => {
  const big = new Credit(10);
  assert.equal(big.take(100), undefined, "a message larger than the credit left still goes");
  assert.ok(big.take(1) instanceof Promise, "then the sender waits");
  big.grant(95);
  const c = new Credit(1);
  assert.equal(c.take(), undefined);
  let got = false;
  const w = (c.take() as Promise<void>).then(() => (got = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(got, false);
  c.grant(1);
  await w;
  assert.equal(got, true);
  const sent: number[] = [];
  const g = new Grants(8, (n) => sent.push(n));
  for (let i = 0; i < 5; i++) g.onRead();
  assert.deepEqual(sent, [2, 2]);
  const f = new Credit(0);
  const pf = f.take() as Promise<void>;
  f.fail(new Error("gone"));
  await assert.rejects(pf, /gone/);
});

test("Data frames: the fast encoder writes what the generated encoder writes, and the fast reader reads it back", async () => {
  const { Request, Response, dataFramePayload, encodeDataFrame } = await import("../../src/wire/frames.js");
  for (const n of [0, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_100_000]) {
    const payload = new Uint8Array(n).map((_, i) => i % 251);
    const fast = encodeDataFrame(payload);
    assert.deepEqual(
      fast,
      Request.encode({ data: { data: Buffer.from(payload) } } as never).finish(),
      `request, ${n} bytes`,
    );
    assert.deepEqual(
      fast,
      Response.encode({ data: { data: Buffer.from(payload) } } as never).finish(),
      `response, ${n} bytes`,
    );
    assert.deepEqual(dataFramePayload(fast), payload);
  }
  assert.equal(dataFramePayload(new Uint8Array([0x22, 0x00])), undefined, "an End frame");
  assert.equal(dataFramePayload(new Uint8Array([0x1a, 0x05, 0x0a, 0x01])), undefined, "truncated");
  assert.equal(
    dataFramePayload(new Uint8Array([0x1a, 0x02, 0x0a, 0x00, 0x22, 0x00])),
    undefined,
    "followed by another field",
  );
});

test("a stream ended with an error delivers what it holds first, then the error", async () => {
  const q = new MessageQueue<number>(4);
  q.push(1);
  q.push(2);
  q.end(new Error("status"));
  const got: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const x of q) got.push(x);
    })(),
    /status/,
  );
  assert.deepEqual(got, [1, 2]);
});

test("a message framed in one pass is the same bytes as framing its encoding, empty messages included", async () => {
  const { encodeDataFrame } = await import("../../src/wire/frames.js");
  const { encodeMessageFrame, encodeProto } = await import("../../src/wire/encode.js");
  const { StreamingOutputCallResponse } = await import("../../generated/testing/test.js");
  const { Empty } = await import("../../generated/ion/ion.js");
  for (const n of [0, 1, 100, 126, 127, 128, 5000, 70_000]) {
    const msg = StreamingOutputCallResponse.fromPartial({ payload: { body: Buffer.alloc(n, 7) } });
    const { frame, length } = encodeMessageFrame(StreamingOutputCallResponse, msg);
    const plain = StreamingOutputCallResponse.encode(msg).finish();
    assert.deepEqual(frame, encodeDataFrame(plain), `${n} bytes`);
    assert.equal(length, plain.length);
    assert.deepEqual(encodeProto(StreamingOutputCallResponse, msg), plain);
  }
  const empty = encodeMessageFrame(Empty, {});
  assert.deepEqual([...empty.frame], [0x1a, 0x00]);
  assert.equal(empty.length, 0);
  // a codec that ignores the writer it is given
  const own = { encode: () => ({ finish: () => new Uint8Array([1, 2, 3]) }), fromPartial: (m: unknown) => m };
  assert.deepEqual([...encodeMessageFrame(own, {}).frame], [0x1a, 0x05, 0x0a, 0x03, 1, 2, 3]);
});
