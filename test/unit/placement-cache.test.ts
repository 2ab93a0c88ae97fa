/** The cache of placements learnt from a shared store: bounded, least recently used first out, expiring. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PlacementCache } from "../../src/registry/placement-cache.js";

const IDLE = 60_000;

test("it keeps at most its bound, and at least the most recent half of it", () => {
  const c = new PlacementCache(1000);
  for (let i = 0; i < 10_000; i++) {
    c.set(`k${i}`, "n", 0, IDLE);
    assert.ok(c.size <= 1000, `${c.size} entries after ${i + 1} placements`);
  }
  for (let i = 10_000 - 500; i < 10_000; i++) assert.equal(c.get(`k${i}`, 1)?.nid, "n", `k${i}, among the last 500`);
  assert.equal(c.get("k0", 1), undefined, "the first placement is long gone");
});

test("an entry used again outlives entries placed after it", () => {
  const c = new PlacementCache(100);
  c.set("hot", "n1", 0, IDLE);
  for (let i = 0; i < 1000; i++) {
    c.set(`cold${i}`, "n2", 0, IDLE);
    if (i % 40 === 0) assert.equal(c.get("hot", 1)?.nid, "n1", `hot, after ${i} others`);
  }
  assert.equal(c.get("cold0", 1), undefined);
});

test("an entry past its idle time is gone; delete and clear forget; a new placement replaces the old", () => {
  const c = new PlacementCache(10);
  c.set("a", "n1", 0, 100);
  assert.equal(c.get("a", 99)?.nid, "n1");
  assert.equal(c.get("a", 100), undefined, "at its end it is over");
  assert.equal(c.size, 0);
  // Pushed to the older generation, then over: gone too.
  c.set("b", "n1", 0, 100);
  for (let i = 0; i < 5; i++) c.set(`x${i}`, "n", 0, IDLE);
  assert.equal(c.get("b", 200), undefined);
  c.set("c", "n1", 0, IDLE);
  c.set("c", "n2", 10, IDLE);
  assert.equal(c.get("c", 20)?.nid, "n2");
  for (let i = 0; i < 5; i++) c.set(`y${i}`, "n", 0, IDLE);
  c.delete("c");
  assert.equal(c.get("c", 20), undefined, "deleted from whichever generation holds it");
  c.clear();
  assert.equal(c.size, 0);
});

test("keys that share a slot cost a miss, never another session's node", () => {
  // 31-bit slots: among 300,000 keys a few pairs share one.
  const n = 300_000;
  const key = (i: number): string => `islb:{islb}:sess:rtc.room-${i}`;
  const c = new PlacementCache(2 * n);
  for (let i = 0; i < n; i++) c.set(key(i), `node-${i}`, 0, IDLE);
  const missing = (): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = c.get(key(i), 1);
      if (e === undefined) out.push(i);
      else assert.equal(e.nid, `node-${i}`);
    }
    return out;
  };
  const lost = missing();
  assert.ok(lost.length > 0 && lost.length < 100, `${lost.length} of ${n} lost to a shared slot`);
  // Placed again, a lost key takes its slot back from the key that took it.
  const a = lost[0] as number;
  c.set(key(a), `node-${a}`, 0, IDLE);
  const now = missing();
  assert.ok(!now.includes(a));
  const b = now.find((i) => !lost.includes(i));
  assert.ok(b !== undefined, "the key that had the slot is the one lost now");
  // Deleting the one not there leaves the one there.
  c.delete(key(b));
  assert.equal(c.get(key(a), 1)?.nid, `node-${a}`);
  c.delete(key(a));
  assert.equal(c.get(key(a), 1), undefined);
});
