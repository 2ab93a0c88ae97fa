/** The messages every benchmark scenario carries: FindNodeRequest -> FindNodeReply with 5 nodes. */
import { FindNodeReply, FindNodeRequest, NodeState } from "../generated/islb/islb.js";
import { toRecord } from "../src/registry/records.js";
import type { NodeRecord } from "../src/registry/types.js";

/** A FindNodeRequest for session `sid` of service rtc, whole (every field set: no fromPartial copy). */
export const sessionRequest = (sid: string, region = ""): FindNodeRequest => ({
  service: "rtc",
  sid,
  nid: "",
  region,
  dc: "",
  limit: 0,
  explain: false,
  overflow: false,
  fullNid: "",
  maxNodes: 0,
});

export const request: FindNodeRequest = sessionRequest("room-42");

export const reply: FindNodeReply = {
  nodes: Array.from({ length: 5 }, (_, i) => ({
    dc: "dc1",
    nid: `sfu-${i + 1}`,
    service: "rtc",
    rpc: {
      protocol: "nats-grpc",
      addr: "nats://10.0.0.1:4222",
      params: new Map([
        ["region", "eu-west"],
        ["load", String(0.1 * i)],
      ]),
    },
  })),
  explanation: undefined,
  sessionNodes: [],
  sessionRevision: 0,
};

export const requestBytes = FindNodeRequest.encode(request).finish();
export const replyBytes = FindNodeReply.encode(reply).finish();
export const requestJson = new TextEncoder().encode(JSON.stringify(FindNodeRequest.toJSON(request)));

const zero = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };

/** Node i of a benchmark fleet (4 regions, loads spread), recorded as the service would record it. */
export function fleetRecord(i: number, now: number, leaseMs = 600_000): NodeRecord {
  return toRecord(
    {
      node: {
        dc: `dc${i % 4}`,
        nid: `sfu-${i}`,
        service: "rtc",
        rpc: { protocol: "nats-grpc", addr: "nats://10.0.0.1:4222", params: new Map() },
      },
      state: NodeState.NODE_STATE_SERVING,
      region: `r${i % 4}`,
      load: { ...zero, sessions: i % 100, cpu: (i % 100) / 100 },
      softLimits: { ...zero, sessions: 1000 },
      hardLimits: { ...zero },
    },
    leaseMs,
    now,
  );
}
