/**
 * RegistryView.defer: a store may take changes and leave them for the end of the turn (the
 * Redis store's own heartbeats, so their replies go first). These pin that what is deferred
 * is applied in order before any later change, before any read of records, the revision or
 * the log, and at the end of the turn when nothing read the view; and that the reads that do
 * not wait for it (the node's identity, its mark, counts) give what they gave before.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryView } from "../../src/registry/view.js";
import { NodeState, type NodeRecord, type RegistryEvent } from "../../src/registry/types.js";
import { beaten, toRecord } from "../../src/registry/records.js";

const rec = (nid: string, sessions: number): NodeRecord =>
  toRecord(
    {
      node: { nid, service: "sfu", dc: "dc1", rpc: { protocol: "nats", addr: "nats://x", params: new Map() } },
      state: NodeState.NODE_STATE_SERVING,
      region: "r1",
      load: { cpu: 0, sessions, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      softLimits: undefined,
      hardLimits: undefined,
    },
    60_000,
    Date.now(),
  );

const load = (sessions: number) => ({ cpu: 0, sessions, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 });

/** A view with n1 at revision 1, and a heartbeat of n1 (10 sessions) at revision 2 deferred. */
function deferredBeat(): { view: RegistryView; seen: RegistryEvent[] } {
  const view = new RegistryView();
  const seen: RegistryEvent[] = [];
  view.apply({ type: "up", revision: 1, record: rec("n1", 0) });
  view.subscribe((e) => seen.push(e));
  view.defer(() => {
    const r = view.get("n1") as NodeRecord;
    view.apply({ type: "updated", revision: 2, record: beaten(r, load(10), r.state, Date.now() + 60_000, 60_000) });
  });
  return { view, seen };
}

test("deferred changes are applied at the end of the turn when nothing reads the view first", async () => {
  const { view, seen } = deferredBeat();
  assert.equal(seen.length, 0, "not applied yet");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    seen.map((e) => [e.type, e.revision, e.record.load.sessions]),
    [["updated", 2, 10]],
  );
});

test("a later change waits for what was deferred: revision order holds, nothing is passed over", () => {
  const { view, seen } = deferredBeat();
  view.apply({ type: "up", revision: 3, record: rec("n2", 0) });
  assert.deepEqual(
    seen.map((e) => [e.type, e.record.node.nid, e.revision]),
    [
      ["updated", "n1", 2],
      ["up", "n2", 3],
    ],
  );
  assert.equal(view.get("n1")?.load.sessions, 10);
});

test("reads of records, the revision and the log settle what was deferred first", () => {
  for (const read of [
    (v: RegistryView) => v.get("n1")?.load.sessions,
    (v: RegistryView) => v.nodesOf("sfu")[0]?.load.sessions,
    (v: RegistryView) => v.revision,
    (v: RegistryView) => v.since(1)?.length,
  ]) {
    const { view } = deferredBeat();
    assert.ok([10, 2, 1].includes(read(view) as number), "the read sees the deferred change");
    assert.equal(view.revision, 2);
  }
});

test("identity, mark and count reads do not settle, and give what they gave before", () => {
  const { view, seen } = deferredBeat();
  assert.equal(view.nodeOf("n1")?.nid, "n1");
  assert.equal(view.markOf("n1"), undefined);
  assert.equal(view.countOf("sfu"), 1);
  assert.equal(view.slotOf("n1") !== undefined, true);
  assert.equal(seen.length, 0, "still deferred");
});

test("a resync applies what was deferred before replacing everything", () => {
  const { view, seen } = deferredBeat();
  view.resync(5, [rec("n1", 3)]);
  assert.deepEqual(
    seen.map((e) => e.revision),
    [2],
  );
  assert.equal(view.revision, 5);
  assert.equal(view.get("n1")?.load.sessions, 3);
});
