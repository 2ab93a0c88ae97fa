/** The agent's session reports (deltas, digest, the full list in chunks) and the rule that re-learns them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionReporter } from "../../src/agent/session-report.js";
import { MAX_REPORTED, digestCount, sessionsDigest } from "../../src/islb/session-digest.js";
import { adoptStep } from "../../src/registry/session-adopt.js";

test("reports only changes since the last acknowledged heartbeat, and the digest of every session", () => {
  const r = new SessionReporter();
  const one = r.report(["a", "b"]);
  assert.deepEqual([one.sessionsAdded, one.sessionsRemoved, one.sessionsFull], [["a", "b"], [], false]);
  assert.equal(one.sessionsDigest, sessionsDigest(["b", "a"]), "order does not matter");
  // Not acknowledged (the heartbeat failed): sent again.
  assert.deepEqual(r.report(["a", "b"]).sessionsAdded, ["a", "b"]);
  r.acknowledged(r.report(["a", "b"]), false);
  const two = r.report(["b", "c"]);
  assert.deepEqual([two.sessionsAdded, two.sessionsRemoved], [["c"], ["a"]]);
  r.acknowledged(two, false);
  const three = r.report(["b", "c"]);
  assert.deepEqual([three.sessionsAdded, three.sessionsRemoved], [[], []]);
  assert.equal(digestCount(three.sessionsDigest), 2);
});

test("the full list when asked, over several heartbeats when it is long, the last one marked full", () => {
  const r = new SessionReporter();
  const all = Array.from({ length: MAX_REPORTED + 5 }, (_, i) => `s${i}`);
  r.acknowledged(r.report(all), false);
  r.acknowledged(r.report(all), true);
  const first = r.report(all);
  assert.equal(first.sessionsAdded.length, MAX_REPORTED);
  assert.equal(first.sessionsFull, false);
  // Asked again meanwhile: it goes on rather than starting over.
  r.acknowledged(first, true);
  const last = r.report(all);
  assert.equal(last.sessionsAdded.length, 5);
  assert.equal(last.sessionsFull, true);
  r.acknowledged(last, false);
  assert.equal(r.report(all).sessionsFull, false);
});

test("a session gone while the registry asks for the full list is still reported removed (the list goes beside it)", () => {
  const r = new SessionReporter();
  r.acknowledged(r.report(["a", "b", "c"]), false);
  // Another instance, which has not had this node's full list, asks for it; then room b ends.
  r.acknowledged(r.report(["a", "b", "c"]), true);
  const next = r.report(["a", "c"]);
  assert.deepEqual([next.sessionsAdded, next.sessionsRemoved, next.sessionsFull], [["a", "c"], ["b"], true]);
  assert.equal(next.sessionsDigest, sessionsDigest(["a", "c"]));
  r.acknowledged(next, false);
  const after = r.report(["a", "c"]);
  assert.deepEqual([after.sessionsAdded, after.sessionsRemoved, after.sessionsFull], [[], [], false]);
});

test("a session sent in a heartbeat that was not acknowledged, then ended, is reported removed (the registry may have recorded it)", () => {
  const r = new SessionReporter();
  r.acknowledged(r.report(["a"]), false);
  // This heartbeat fails (or its reply is lost) after the registry recorded b; then room b ends.
  r.report(["a", "b"]);
  const next = r.report(["a"]);
  assert.deepEqual([next.sessionsAdded, next.sessionsRemoved], [[], ["b"]]);
  // Not acknowledged either: still reported removed.
  assert.deepEqual(r.report(["a"]).sessionsRemoved, ["b"]);
  r.acknowledged(r.report(["a"]), false);
  assert.deepEqual(r.report(["a"]).sessionsRemoved, [], "once acknowledged, not again");
  // One re-sent and acknowledged is no longer in doubt: when it ends it is removed once, as any other.
  r.report(["a", "c"]);
  r.acknowledged(r.report(["a", "c"]), false);
  r.acknowledged(r.report(["a"]), false);
  assert.deepEqual(r.report(["a"]).sessionsRemoved, []);
});

test("doubts are bounded: at most MAX_REPORTED ids, the oldest dropped first", () => {
  const r = new SessionReporter();
  const first = Array.from({ length: MAX_REPORTED }, (_, i) => `s${i}`);
  r.report(first);
  // s0 ends and "late" starts; neither heartbeat is acknowledged: MAX_REPORTED + 1 in doubt.
  r.report(["late", ...first.slice(1)]);
  const next = r.report([]);
  assert.equal(next.sessionsRemoved.length, MAX_REPORTED);
  assert.ok(next.sessionsRemoved.includes("late"), "the newest doubt is kept");
  assert.ok(!next.sessionsRemoved.includes("s0"), "the oldest is dropped");
});

test("the placement already recorded wins; placed nowhere or on a host that cannot keep it: the reporter's", () => {
  assert.equal(adoptStep(true, "a", undefined, false), "create");
  assert.equal(adoptStep(true, "a", "a", true), "renew");
  assert.equal(adoptStep(true, "a", "b", true), "conflict");
  assert.equal(adoptStep(true, "a", "b", false), "replace");
  assert.equal(adoptStep(false, "a", undefined, false), "refuse");
});
