/** A node's record as stores keep it, for tests that write to a store directly. */
import { toRecord } from "../../src/registry/records.js";
import { NodeState, type NodeRecord } from "../../src/registry/types.js";

/** A SERVING node of `service` (default "rtc") with a lease of `leaseMs` from `now`. */
export function nodeRecord(nid: string, service = "rtc", leaseMs = 60_000, now = Date.now()): NodeRecord {
  return toRecord(
    {
      node: { nid, service, dc: "", rpc: undefined },
      state: NodeState.NODE_STATE_SERVING,
      region: "",
      load: undefined,
      softLimits: undefined,
      hardLimits: undefined,
    },
    leaseMs,
    now,
  );
}
