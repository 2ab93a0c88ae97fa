import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "nats";
import { createClient, createServer, Status, ClientError } from "../../src/index.js";
import { ISLBDefinition, FindNodeRequest, FindNodeReply } from "../../generated/islb/islb.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { withUnimplemented } from "../helpers/services.js";

test("unary FindNode over NATS: binary, JSON and unknown method", async (t) => {
  const ns = await startNatsServer();
  t.after(() => ns.stop());
  const nc = await connect({ servers: ns.url });
  t.after(() => nc.close());
  const server = createServer({ nid: "n1" });
  server.add(
    ISLBDefinition,
    withUnimplemented(ISLBDefinition, {
      async findNode(req: FindNodeRequest) {
        return {
          nodes: [
            {
              dc: "dc1",
              nid: "sfu-1",
              service: req.service,
              rpc: { protocol: "nats-grpc", addr: "x", params: new Map([["a", "b"]]) },
            },
          ],
        };
      },
    }),
  );
  await server.listen(nc);
  t.after(() => server.close());
  const client = createClient(ISLBDefinition, nc);
  const r = await client.findNode({ service: "rtc" });
  assert.equal(r.nodes[0]?.service, "rtc");
  assert.equal(r.nodes[0]?.rpc?.params.get("a"), "b");
  const m = await nc.request("nrpc.islb.ISLB.FindNode", new TextEncoder().encode('{"service":"rtc","sid":"room1"}'));
  assert.equal(m.headers?.get("grpc-status"), "0");
  const json = JSON.parse(new TextDecoder().decode(m.data));
  assert.equal(json.nodes[0].nid, "sfu-1");
  const bad = await nc.request("nrpc.islb.ISLB.FindNode", new TextEncoder().encode('{"service":'));
  assert.equal(bad.headers?.get("grpc-status"), String(Status.INVALID_ARGUMENT));
  const viaNid = await client.findNode({ service: "x" }, { nid: "n1" });
  assert.equal(viaNid.nodes.length, 1);
  await assert.rejects(
    client.findNode({}, { nid: "nobody" }),
    (e: unknown) => e instanceof ClientError && e.code === Status.UNAVAILABLE,
  );
  void FindNodeRequest;
  void FindNodeReply;
});
