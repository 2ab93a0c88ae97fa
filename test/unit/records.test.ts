/**
 * Records and loads as the Redis and NATS KV stores write them: encoded with the writer
 * src/wire/encode.ts reuses for every message, so these pin that each encoding is exactly
 * what a fresh writer gives, and that an encoding that throws halfway leaves nothing in the
 * writer for the next one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeLoad,
  decodeRecord,
  encodeLoad,
  encodeRecord,
  toNodeInfo,
  toRecord,
} from "../../src/registry/records.js";
import { NodeState, type Load, type NodeRecord } from "../../src/registry/types.js";
import { Load as LoadMessage, NodeInfo } from "../../generated/islb/islb.js";

const load = (n: number): Load => ({
  cpu: n / 100,
  sessions: n,
  tracks: 3 * n,
  bandwidthIn: 1000 * n,
  bandwidthOut: 7,
});

const rec = (nid: string, n: number): NodeRecord =>
  toRecord(
    {
      node: {
        nid,
        service: "rtc",
        dc: "dc1",
        rpc: { protocol: "nats", addr: "nats://x", params: new Map([["k", "v"]]) },
      },
      state: NodeState.NODE_STATE_SERVING,
      region: "r1",
      load: load(n),
      softLimits: { cpu: 0.7, sessions: 50, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 },
      hardLimits: undefined,
      extraInfo: new Map([["zone", { stringValue: "a", goType: "string" }]]),
    },
    60_000,
    1_700_000_000_000,
  );

test("records and loads encode as a fresh writer would, one after another, large and small", () => {
  for (const [i, r] of [rec("a", 1), rec("a-much-longer-node-id-".repeat(20), 99), rec("b", 0)].entries()) {
    const bytes = encodeRecord(r);
    assert.deepEqual(bytes, NodeInfo.encode(toNodeInfo(r)).finish(), `record ${i}`);
    assert.deepEqual(encodeRecord(decodeRecord(bytes)), bytes, `record ${i} round trip`);
    const l = load(i * 17);
    assert.deepEqual(encodeLoad(l), LoadMessage.encode(l).finish(), `load ${i}`);
    assert.deepEqual(decodeLoad(encodeLoad(l)), l);
  }
});

test("an encoding that throws leaves nothing behind for the next", () => {
  const bad = { ...load(5), sessions: 2n ** 70n } as unknown as Load;
  assert.throws(() => encodeLoad(bad));
  const l = load(3);
  assert.deepEqual(encodeLoad(l), LoadMessage.encode(l).finish());
  const r = rec("c", 4);
  assert.deepEqual(encodeRecord(r), NodeInfo.encode(toNodeInfo(r)).finish());
});
