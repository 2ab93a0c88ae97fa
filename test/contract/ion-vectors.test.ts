/**
 * Golden vectors for ion.proto and islb.proto: fixed bytes and canonical proto3 JSON, both
 * ways. ion's field numbers are pinned here: a change that renumbers breaks these bytes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Empty, Node, RPC } from "../../generated/ion/ion.js";
import {
  FindNodeReply,
  FindNodeRequest,
  Load,
  NodeState,
  RegisterRequest,
  WatchEvent,
  WatchEvent_Type,
} from "../../generated/islb/islb.js";
import { hex } from "../helpers/vectors.js";
import { islbDescriptorSet } from "../../src/reflection/descriptors.js";
import { DescriptorJson } from "../../src/reflection/json.js";

const set = islbDescriptorSet();

interface Codec<T> {
  encode(m: T): { finish(): Uint8Array };
  decode(b: Uint8Array): T;
  toJSON(m: T): unknown;
  fromJSON(j: unknown): T;
  fromPartial(p: never): T;
}

/**
 * The bytes both ways through our generated code; the canonical JSON both ways through the
 * mapping the server's JSON mode uses (DescriptorJson).
 */
function golden<T>(name: string, type: Codec<T>, partial: unknown, bytes: string, json: unknown): void {
  test(`${name}: bytes and JSON, both ways`, () => {
    const msg = type.fromPartial(partial as never);
    assert.equal(hex(type.encode(msg).finish()), bytes, "encode");
    assert.deepEqual(type.decode(Buffer.from(bytes, "hex")), msg, "decode");
    const j = DescriptorJson.messageJson(set, name);
    assert.deepEqual(JSON.parse(j.toJson(Buffer.from(bytes, "hex"))), json, "to canonical JSON");
    assert.equal(hex(j.fromJson(JSON.stringify(json))), bytes, "from canonical JSON");
  });
}

// Bytes not taken from the Go captures were written by protobufjs from the .proto files: an
// encoder other than ours. ion.Node{dc=1, nid=2, service=3, rpc=4}, ion.RPC{protocol=1, addr=2, params=3}
golden(
  "ion.RPC",
  RPC,
  { protocol: "nats", addr: "nats://127.0.0.1:4222", params: new Map([["region", "eu"]]) },
  "0a046e61747312156e6174733a2f2f3132372e302e302e313a343232321a0c0a06726567696f6e12026575",
  { protocol: "nats", addr: "nats://127.0.0.1:4222", params: { region: "eu" } },
);
golden(
  "ion.Node",
  Node,
  { dc: "dc1", nid: "sfu-1", service: "rtc", rpc: { protocol: "grpc", addr: "h:1", params: new Map() } },
  "0a0364633112057366752d311a03727463220b0a04677270631203683a31",
  { dc: "dc1", nid: "sfu-1", service: "rtc", rpc: { protocol: "grpc", addr: "h:1" } },
);
golden("ion.Empty", Empty, {}, "", {});
// islb.FindNodeRequest{sid=1, nid=2, service=3}; FindNodeReply{nodes=1}: the bytes of the nats-grpc capture
golden(
  "islb.FindNodeRequest",
  FindNodeRequest,
  { sid: "room1", nid: "sfu-x", service: "rtc" },
  "0a05726f6f6d3112057366752d781a03727463",
  { sid: "room1", nid: "sfu-x", service: "rtc" },
);
golden(
  "islb.FindNodeReply",
  FindNodeReply,
  {
    nodes: [
      { dc: "dc2", nid: "sfu-2", service: "rtc", rpc: { protocol: "grpc", addr: "127.0.0.1:5551", params: new Map() } },
    ],
  },
  "0a290a0364633212057366752d321a0372746322160a0467727063120e3132372e302e302e313a35353531",
  { nodes: [{ dc: "dc2", nid: "sfu-2", service: "rtc", rpc: { protocol: "grpc", addr: "127.0.0.1:5551" } }] },
);
golden("islb.Load", Load, { cpu: 0.5, sessions: 3, bandwidthOut: 1000 }, "09000000000000e03f100328e807", {
  cpu: 0.5,
  sessions: 3,
  bandwidthOut: "1000",
});
golden(
  "islb.RegisterRequest",
  RegisterRequest,
  {
    registration: { node: { nid: "n", service: "s" }, state: NodeState.NODE_STATE_DRAINING },
    token: "t",
    leaseMs: 6000,
  },
  "0a0a0a0612016e1a0173100212017418f02e",
  { registration: { node: { nid: "n", service: "s" }, state: "NODE_STATE_DRAINING" }, token: "t", leaseMs: 6000 },
);
golden(
  "islb.WatchEvent",
  WatchEvent,
  { type: WatchEvent_Type.TYPE_UP, revision: 1_700_000_000_000_001 },
  "0803108180f9c0c1c48203",
  { type: "TYPE_UP", revision: "1700000000000001" },
);

test("ion's field numbers are pinned", () => {
  const tags = (b: Uint8Array): number[] => {
    const out: number[] = [];
    for (let i = 0; i < b.length;) {
      const tag = b[i] as number;
      out.push(tag >> 3);
      const len = b[i + 1] as number;
      i += 2 + len;
    }
    return out;
  };
  assert.deepEqual(
    tags(Node.encode({ dc: "a", nid: "b", service: "c", rpc: { protocol: "", addr: "", params: new Map() } }).finish()),
    [1, 2, 3, 4],
  );
  assert.deepEqual(tags(RPC.encode({ protocol: "a", addr: "b", params: new Map([["k", "v"]]) }).finish()), [1, 2, 3]);
  assert.deepEqual(
    tags(
      FindNodeRequest.encode({
        sid: "a",
        nid: "b",
        service: "c",
        region: "",
        dc: "",
        limit: 0,
        explain: false,
        overflow: false,
        fullNid: "",
        maxNodes: 0,
      }).finish(),
    ),
    [1, 2, 3],
  );
  assert.deepEqual(
    tags(
      FindNodeReply.encode({
        nodes: [{ dc: "", nid: "x", service: "", rpc: undefined }],
        explanation: undefined,
        sessionNodes: [],
        sessionRevision: 0,
      }).finish(),
    ),
    [1],
  );
});
