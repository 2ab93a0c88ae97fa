import { test } from "node:test";
import assert from "node:assert/strict";
import { KeepaliveTicker } from "../../src/transport/keepalive.js";

test("a connection's keep-alive ticker runs while it has calls, and stops for good when closed", (t) => {
  t.mock.timers.enable({ apis: ["setInterval", "Date"], now: 0 });
  const k = new KeepaliveTicker(100);
  const ticks: number[] = [];
  const call = { tick: (now: number) => void ticks.push(now) };
  assert.equal(k.running, false);
  k.add(call);
  assert.equal(k.running, true);
  for (let i = 0; i < 3; i++) t.mock.timers.tick(100);
  assert.deepEqual(ticks, [100, 200, 300]);
  k.delete(call);
  t.mock.timers.tick(100);
  assert.equal(k.running, false, "no calls: no timer");
  k.add(call);
  k.close();
  assert.equal(k.running, false);
  k.add(call);
  t.mock.timers.tick(500);
  assert.equal(k.running, false, "closed with its connection: it stays stopped");
  assert.equal(ticks.length, 3);
});
