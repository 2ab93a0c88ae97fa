/** The messages every benchmark scenario carries: FindNodeRequest -> FindNodeReply with 5 nodes. */
import { FindNodeReply, FindNodeRequest } from "../generated/islb/islb.js";

export const request: FindNodeRequest = { service: "rtc", sid: "room-42", nid: "", region: "", dc: "", limit: 0 };

export const reply: FindNodeReply = {
  nodes: Array.from({ length: 5 }, (_, i) => ({
    dc: "dc1",
    nid: `sfu-${i + 1}`,
    service: "rtc",
    rpc: { protocol: "nats-grpc", addr: "nats://10.0.0.1:4222", params: new Map([["region", "eu-west"], ["load", String(0.1 * i)]]) },
  })),
};

export const requestBytes = FindNodeRequest.encode(request).finish();
export const replyBytes = FindNodeReply.encode(reply).finish();
export const requestJson = new TextEncoder().encode(JSON.stringify(FindNodeRequest.toJSON(request)));
