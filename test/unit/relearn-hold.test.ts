/**
 * The hold after a loss (src/islb/session-reports.ts): once the view is reloaded, lookups of
 * sessions the store does not know wait while a node the view had before may still come back
 * and report its rooms: until it is registered again (then the hold's length more, for its full
 * list), or until its lease as it was has ended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { HeartbeatRequest } from "../../generated/islb/islb.js";
import { SessionReports } from "../../src/islb/session-reports.js";
import { MemoryStore } from "../../src/registry/memory.js";
import { toRecord } from "../../src/registry/records.js";
import { NodeState, type NodeRecord } from "../../src/registry/types.js";

const HOLD_MS = 200;

const rec = (nid: string, leaseMs: number): NodeRecord =>
  toRecord(
    {
      node: { nid, service: "sfu", dc: "dc1", rpc: { protocol: "nats", addr: "nats://x", params: new Map() } },
      state: NodeState.NODE_STATE_SERVING,
      region: "r1",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    leaseMs,
    Date.now(),
  );

/** A store whose view has n1 (long lease) and n2 (lease `n2LeaseMs`), and reports that have seen a node report. */
async function setup(n2LeaseMs: number): Promise<{ store: MemoryStore; reports: SessionReports }> {
  const store = new MemoryStore();
  store.view.apply({ type: "up", revision: 1, record: rec("n1", 60_000) });
  store.view.apply({ type: "up", revision: 2, record: rec("n2", n2LeaseMs) });
  const reports = new SessionReports(store, 60_000, async () => undefined, {}, HOLD_MS);
  // A node reported (no sessions): from now on, a loss holds lookups.
  await reports.apply(
    HeartbeatRequest.fromPartial({ nid: "n1", token: "t", sessionsDigest: "0:0000000000000000" }),
    "sfu",
    false,
    1000,
  );
  assert.equal(reports.holding, false, "no loss yet: no hold");
  return { store, reports };
}

test("after a reload, the hold lasts until a node the view had is registered again, then the hold's length more", async () => {
  const { store, reports } = await setup(60_000);
  // The store was lost: the snapshot has only n1 (registered again by its heartbeat).
  store.view.resync(100, [rec("n1", 60_000)]);
  assert.equal(reports.holding, true);
  await sleep(2 * HOLD_MS);
  assert.equal(reports.holding, true, "n2 has not come back: still held (a hold of its length alone has ended)");
  store.view.apply({ type: "up", revision: 101, record: rec("n2", 60_000) });
  assert.equal(reports.holding, true, "n2 is back: its full list follows");
  await sleep(HOLD_MS + 100);
  assert.equal(reports.holding, false, "every node is back and had its time to report");
  await store.close();
});

test("a node that does not come back holds lookups only until its lease as it was has ended", async () => {
  const { store, reports } = await setup(3 * HOLD_MS);
  store.view.resync(100, [rec("n1", 60_000)]);
  await sleep(HOLD_MS + 50);
  assert.equal(reports.holding, true, "n2's lease has not ended yet");
  await sleep(2 * HOLD_MS + 50);
  assert.equal(reports.holding, false, "n2 is gone: no more hold");
  await store.close();
});

test("an instance that has seen no report does not hold after a reload", async () => {
  const store = new MemoryStore();
  store.view.apply({ type: "up", revision: 1, record: rec("n1", 60_000) });
  const reports = new SessionReports(store, 60_000, async () => undefined, {}, HOLD_MS);
  store.view.resync(100, []);
  assert.equal(reports.holding, false);
  await store.close();
});
