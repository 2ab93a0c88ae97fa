import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionLog } from "../../src/registry/session-log.js";
import type { SessionEvent } from "../../src/registry/model.js";

const ev = (revision: number): SessionEvent => ({
  type: "placed",
  revision,
  service: "s",
  sid: `r${revision}`,
  nid: "n",
  from: "",
  reason: "new",
});

test("the session log keeps at least the last 10,000 changes, at most a quarter more, and says when a resume is too old", () => {
  const log = new SessionLog();
  for (let r = 1; r <= 30_000; r++) log.append(ev(r));
  const kept = log.since(0);
  assert.equal(kept, undefined, "the first changes were dropped");
  const tail = log.since(20_000);
  assert.ok(tail !== undefined);
  assert.deepEqual(
    tail.map((e) => e.revision),
    Array.from({ length: 10_000 }, (_, i) => 20_001 + i),
  );
  assert.deepEqual(
    log.since(29_998)?.map((e) => e.revision),
    [29_999, 30_000],
  );
  // Between 10,000 and 12,500 kept.
  let oldest = 30_000;
  while (log.since(oldest - 1) !== undefined) oldest--;
  assert.ok(30_000 - oldest >= 10_000 && 30_000 - oldest <= 12_500, `kept ${30_000 - oldest}`);
});
