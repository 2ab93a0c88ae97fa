/** The coarse wheel of unary deadlines: no Node timer per call while it waits, and every deadline fires when it passes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeadlineWheel, WHEEL_SLOT_MS } from "../../src/transport/deadline-wheel.js";

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

test("a thousand waiting deadlines hold one interval, not a timer each, and cleaned up ones leave nothing", () => {
  const wheel = new DeadlineWheel();
  const before = timeouts();
  const ds = Array.from({ length: 1000 }, () => wheel.arm(5000, () => assert.fail("cleaned up before its deadline")));
  assert.ok(timeouts() - before <= 1, `${timeouts() - before} timers for 1000 deadlines`);
  assert.equal(wheel.running, true, "one interval for all of them");
  assert.equal(wheel.size, 1000);
  for (const d of ds) d.cleanup();
  assert.equal(wheel.size, 0);
});

test("deadlines fire when they pass (not before, and not a slot late), once; short ones too", async () => {
  const wheel = new DeadlineWheel();
  const t0 = performance.now();
  const fired: Array<[number, number]> = [];
  for (const ms of [20, 3 * WHEEL_SLOT_MS + 10, 400, 730]) {
    let n = 0;
    wheel.arm(ms, () => {
      n++;
      fired.push([ms, performance.now() - t0]);
      assert.equal(n, 1);
    });
  }
  const kept = wheel.arm(300, () => assert.fail("cleaned up"));
  setTimeout(() => kept.cleanup(), 100);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(fired.length, 4);
  for (const [ms, at] of fired) {
    assert.ok(at >= ms - 1, `a ${ms} ms deadline fired at ${at.toFixed(1)} ms`);
    // Slack for a loaded machine, but well under what a whole slot late would be on top of it.
    assert.ok(at <= ms + 40, `a ${ms} ms deadline fired late, at ${at.toFixed(1)} ms`);
  }
  assert.equal(wheel.running, false, "its interval stops once no deadline waits");
});
