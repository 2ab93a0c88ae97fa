/**
 * `islb/gateway`: the gateway to embed (what `islb gateway` runs): stock gRPC, gRPC-Web and
 * Connect clients over HTTP reach every service on the bus. See docs/GATEWAY.md.
 */
export * from "../gateway/index.js";
