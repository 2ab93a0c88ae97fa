import { test } from "node:test";
import assert from "node:assert/strict";
import { ChangeHistory, DEFAULT_HISTORY, estimateBytes } from "../../src/registry/history.js";
import { MemoryStore } from "../../src/registry/memory.js";
import { toRecord } from "../../src/registry/records.js";
import { NodeState, type RegistryEvent } from "../../src/registry/types.js";

const record = (nid: string, now = Date.now()) =>
  toRecord(
    {
      node: {
        nid,
        service: "rtc",
        dc: "dc1",
        rpc: { protocol: "nats-grpc", addr: "nats://10.0.0.1:4222", params: new Map([["region", "eu"]]) },
      },
      state: NodeState.NODE_STATE_SERVING,
      region: "eu",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    6000,
    now,
  );
const ev = (revision: number, nid = `n${revision}`): RegistryEvent => ({
  type: "updated",
  revision,
  record: record(nid),
});

test("the defaults cap the watch history at 100,000 changes, 16 MiB and 10 minutes", () => {
  assert.deepEqual(DEFAULT_HISTORY, { changes: 100_000, bytes: 16 * 1024 * 1024, ageMs: 600_000 });
});

test("the history is bounded by count: older changes are dropped, a resume before them gets undefined (RESET)", () => {
  const h = new ChangeHistory({ changes: 3 });
  for (let r = 1; r <= 5; r++) h.append(ev(r));
  assert.equal(h.size, 3);
  assert.deepEqual(
    h.since(2, 5)?.map((e) => e.revision),
    [3, 4, 5],
  );
  assert.equal(h.since(1, 5), undefined);
});

test("the history is bounded by bytes", () => {
  const one = estimateBytes(record("n1"));
  assert.ok(one > 300 && one < 2000, `${one} bytes per change`);
  const h = new ChangeHistory({ bytes: one * 10 + 1 });
  for (let r = 1; r <= 100; r++) h.append(ev(r, "n1"));
  assert.equal(h.size, 10);
  assert.ok(h.bytes <= one * 10 + 1);
  assert.deepEqual(h.since(90, 100)?.length, 10);
  assert.equal(h.since(50, 100), undefined);
});

test("the history is bounded by age, also when nothing new is appended", () => {
  let now = 1_000_000;
  const h = new ChangeHistory({ ageMs: 1000 }, () => now);
  h.append(ev(1));
  now += 600;
  h.append(ev(2));
  assert.deepEqual(
    h.since(0, 2)?.map((e) => e.revision),
    [1, 2],
  );
  now += 500; // the first is 1,100 ms old
  assert.deepEqual(
    h.since(1, 2)?.map((e) => e.revision),
    [2],
  );
  assert.equal(h.since(0, 2), undefined);
  now += 1000;
  assert.equal(h.since(1, 2), undefined, "everything aged out");
  assert.equal(h.size, 0);
});

test("a store's view keeps the bounds it was given (100,000 heartbeats stay within 1 MiB)", async () => {
  const store = new MemoryStore({ history: { bytes: 1024 * 1024 } });
  const r = record("hb");
  await store.register(r, "tok");
  const first = store.view.revision;
  for (let i = 0; i < 100_000; i++)
    await store.heartbeat(
      "hb",
      "tok",
      { load: r.load, state: undefined, expiresAt: Date.now() + 6000, leaseMs: 6000 },
      undefined,
    );
  assert.ok(store.view.history.bytes <= 1024 * 1024, `${store.view.history.bytes} bytes kept`);
  assert.ok(store.view.history.size < 100_000);
  assert.equal(store.view.since(first), undefined, "the start is no longer kept");
  assert.equal(store.view.since(store.view.revision - 10)?.length, 10);
});
