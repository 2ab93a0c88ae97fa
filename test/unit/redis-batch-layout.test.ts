/** The Redis store's batching of one turn's calls (TurnBatch) and its key layout in shards (redis-layout.ts), without a Redis. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnBatch, chunkSize } from "../../src/registry/turn-batch.js";
import { redisLayout, slotOfTag } from "../../src/registry/redis-layout.js";
import { redisKeys } from "../../src/registry/redis-connection.js";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A TurnBatch whose calls are recorded and answered (each request times 10) when the test says. */
function recorded(...bounds: [max?: number, inFlight?: number, eager?: number]) {
  const calls: number[][] = [];
  const answers: Array<() => void> = [];
  const batch = new TurnBatch<number, number>(
    (qs) =>
      new Promise((resolve) => {
        calls.push(qs);
        answers.push(() => resolve(qs.map((q) => q * 10)));
      }),
    ...bounds,
  );
  return { batch, calls, answers };
}

test("one turn's requests are one call; while two calls are out, later requests wait and go together, in order", async () => {
  const { batch: b, calls, answers } = recorded(256, 2);
  const first = [b.send(1), b.send(2)];
  await turn();
  const second = [b.send(3)];
  await turn();
  const waiting = [b.send(4), b.send(5)];
  await turn();
  await turn();
  assert.deepEqual(calls, [[1, 2], [3]], "two calls out, the third waits");
  answers[0]?.();
  assert.deepEqual(await Promise.all(first), [10, 20]);
  await turn();
  assert.deepEqual(calls, [[1, 2], [3], [4, 5]], "what waited goes in one call once one answers");
  answers[1]?.();
  answers[2]?.();
  assert.deepEqual(await Promise.all([...second, ...waiting]), [30, 40, 50]);
});

test("by default a turn's requests go in equal calls, two at least from 16 requests, none over 64, each answered in order", async () => {
  // Eager chunks off (at most 64 wait): the end of the turn splits them.
  const { batch: b, calls, answers } = recorded(64, 16, 65);
  const sent = Array.from({ length: 70 }, (_, i) => b.send(i));
  await turn();
  assert.deepEqual(
    calls.map((c) => c.length),
    [35, 35],
  );
  assert.deepEqual(calls.flat(), [...Array(70).keys()], "in order");
  for (const a of answers.reverse()) a();
  assert.deepEqual(
    await Promise.all(sent),
    [...Array(70).keys()].map((i) => i * 10),
  );
});

test("once 24 requests wait, they go at once, before the end of the turn; what is left at its end goes as one call", async () => {
  const { batch: b, calls, answers } = recorded();
  const sent = Array.from({ length: 23 }, (_, i) => b.send(i));
  assert.equal(calls.length, 0, "23 wait for the end of the turn");
  sent.push(b.send(23));
  assert.deepEqual(
    calls.map((c) => c.length),
    [24],
    "the 24th sends them, in the same turn",
  );
  for (let i = 24; i < 70; i++) sent.push(b.send(i));
  assert.deepEqual(
    calls.map((c) => c.length),
    [24, 24],
  );
  await turn();
  assert.deepEqual(
    calls.map((c) => c.length),
    [24, 24, 22],
    "the rest of the turn in one call",
  );
  assert.deepEqual(calls.flat(), [...Array(70).keys()], "in order");
  for (const a of answers.reverse()) a();
  assert.deepEqual(
    await Promise.all(sent),
    [...Array(70).keys()].map((i) => i * 10),
  );
  // A turn with no early chunk splits as before.
  const later = Array.from({ length: 20 }, (_, i) => b.send(100 + i));
  await turn();
  assert.deepEqual(
    calls.slice(3).map((c) => c.length),
    [10, 10],
  );
  for (const a of answers.slice(3)) a();
  assert.equal((await Promise.all(later)).length, 20);
});

test("no early chunk while every call is out: what waits goes in order once one answers, split by the end of the turn", async () => {
  const { batch: b, calls, answers } = recorded(64, 1);
  const first = Array.from({ length: 24 }, (_, i) => b.send(i));
  assert.equal(calls.length, 1, "the first 24 went");
  const waiting = Array.from({ length: 100 }, (_, i) => b.send(24 + i));
  await turn();
  assert.equal(calls.length, 1, "one call out at most: the 100 wait");
  answers[0]?.();
  assert.equal((await Promise.all(first)).length, 24);
  await turn();
  assert.deepEqual(
    calls.map((c) => c.length),
    [24, 50],
    "one call may start: the first of two equal chunks",
  );
  // Each answer lets the next chunk of what waits go.
  for (let i = 1; calls.flat().length < 124; i++) {
    answers[i]?.();
    await turn();
    await turn();
  }
  answers[answers.length - 1]?.();
  assert.deepEqual(
    calls.map((c) => c.length),
    [24, 50, 25, 13, 12],
  );
  assert.deepEqual(calls.flat(), [...Array(124).keys()], "in order");
  assert.deepEqual(
    await Promise.all(waiting),
    [...Array(100).keys()].map((i) => (24 + i) * 10),
  );
});

test("chunk sizes: one call below 16, equal halves from there, equal chunks of at most the bound above twice it", () => {
  assert.deepEqual(
    [1, 15, 16, 64, 65, 128, 129, 200].map((n) => chunkSize(n, 64)),
    [1, 15, 8, 32, 33, 64, 43, 50],
  );
  assert.equal(chunkSize(10, 4), 4);
});

test("a failed call rejects its own requests only", async () => {
  let n = 0;
  const b = new TurnBatch<number, number>(async (qs) => {
    if (n++ === 0) throw new Error("boom");
    return qs;
  });
  const a = b.send(1);
  await assert.rejects(a, /boom/);
  assert.equal(await b.send(2), 2);
});

test("one shard is the single-slot layout, unchanged; several spread their slots evenly and keep a service in one", () => {
  assert.deepEqual(redisLayout("islb:", 1).shards[0], redisKeys("islb:"));
  assert.equal(redisKeys("islb:").node, "islb:{islb}:node:");
  const l = redisLayout("islb:", 6);
  const slots = l.shards.map((k) => slotOfTag(/\{([^}]*)\}/.exec(k.rev)?.[1] as string));
  slots.forEach((slot, i) => {
    assert.ok(
      slot >= Math.floor((i * 16384) / 6) && slot < Math.floor(((i + 1) * 16384) / 6),
      `shard ${i}: slot ${slot}`,
    );
  });
  for (const k of l.shards) {
    const tag = /\{([^}]*)\}/.exec(k.rev)?.[1];
    for (const key of [k.nodes, k.leases, k.events, k.node, k.session, k.sessionChanges])
      assert.equal(/\{([^}]*)\}/.exec(key)?.[1], tag, "every key of a shard shares its tag");
  }
  assert.equal(l.of("rtc"), l.of("rtc"));
  assert.ok(new Set(["a", "b", "c", "d", "e", "f", "g", "h"].map((s) => l.of(s))).size > 1);
  assert.throws(() => redisLayout("islb:", 17), /1 to 16/);
  // CRC16 as Redis computes it (CLUSTER KEYSLOT "foo" is 12182; "{user1000}.following" is 3443).
  assert.equal(slotOfTag("foo"), 12182);
  assert.equal(slotOfTag("user1000"), 3443);
});
