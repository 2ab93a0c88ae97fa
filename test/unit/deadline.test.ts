import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TIMER_MS, createDeadline, encodeTimeout, msUntil, parseTimeout } from "../../src/deadline.js";

test("grpc-timeout parses every unit and refuses malformed values", () => {
  assert.equal(parseTimeout("250m"), 250);
  assert.equal(parseTimeout("2S"), 2000);
  assert.equal(parseTimeout("1M"), 60_000);
  assert.equal(parseTimeout("1H"), 3_600_000);
  assert.equal(parseTimeout("1500u"), 1.5);
  assert.equal(parseTimeout("2000000n"), 2);
  for (const bad of ["", "10", "m", "123456789m", "1.5S", "-1S", "10x", "1 S"])
    assert.equal(parseTimeout(bad), undefined, bad);
});

test("grpc-timeout encodes within 8 digits and round-trips to at least the asked time", () => {
  for (const ms of [0, 1, 250, 1.5, 99_999_999, 100_000_000, 7 * 86_400_000, 1e13]) {
    const s = encodeTimeout(ms);
    assert.match(s, /^\d{1,8}[HMSmun]$/, s);
    assert.ok((parseTimeout(s) as number) >= Math.min(ms, 99_999_999 * 3_600_000), `${ms} -> ${s}`);
  }
});

test("a numeric deadline is milliseconds from now; a Date is absolute", () => {
  assert.equal(msUntil(500), 500);
  assert.equal(msUntil(new Date(10_000), 9_000), 1000);
});

test("a deadline further than a timer can wait fires at its time, not at once (30 days, in steps)", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  let fired = 0;
  const d = createDeadline(30 * 86_400_000, () => fired++);
  t.mock.timers.tick(MAX_TIMER_MS - 1);
  assert.equal(fired, 0);
  t.mock.timers.tick(1);
  assert.equal(fired, 0, "past one timer's reach, it waits again");
  assert.equal(d.signal.aborted, false);
  t.mock.timers.tick(30 * 86_400_000 - MAX_TIMER_MS - 5);
  assert.equal(fired, 0);
  t.mock.timers.tick(10);
  assert.equal(fired, 1);
  assert.equal(d.signal.aborted, true);
});

test("a deadline's cleanup stops it; its signal aborts when it fires", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  let fired = 0;
  const a = createDeadline(100, () => fired++);
  const signal = a.signal;
  a.cleanup();
  t.mock.timers.tick(200);
  assert.equal(fired, 0);
  assert.equal(signal.aborted, false);
  const b = createDeadline(100, () => fired++);
  t.mock.timers.tick(100);
  assert.equal(fired, 1);
  assert.equal(b.signal.aborted, true, "made after it fired, the signal is aborted too");
});
