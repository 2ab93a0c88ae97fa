import { test } from "node:test";
import assert from "node:assert/strict";
import { OTHER, Tally } from "../../src/app/tally.js";

function counts(t: Tally): Map<string, number> {
  const out = new Map<string, number>();
  t.flush((labels, n) => out.set(`${labels.service}/${labels.kind}`, n));
  return out;
}

test("a tally counts by label pair, zeroes on flush, and keeps at most maxValues first labels apart", () => {
  const t = new Tally(["service", "kind"], 3);
  t.add("rtc", "list");
  t.add("rtc", "list", 2);
  t.add("rtc", "session");
  assert.deepEqual(
    counts(t),
    new Map([
      ["rtc/list", 3],
      ["rtc/session", 1],
    ]),
  );
  assert.equal(counts(t).size, 0, "a flush hands each count once");
  // A client naming 10,000 services: two more kept apart, the rest under _other.
  for (let i = 0; i < 10_000; i++) t.add(`svc-${i}`, "list");
  const c = counts(t);
  assert.equal(c.get("svc-0/list"), 1);
  assert.equal(c.get("svc-1/list"), 1);
  assert.equal(c.get(`${OTHER}/list`), 9_998);
  assert.equal(c.size, 3);
  t.add("rtc", "list");
  assert.equal(counts(t).get("rtc/list"), 1, "a value kept before the bound is still its own");
});
