/** `islb serve --gateway`: the gateway in the same process, on islb's own connection, reached by a stock grpc-js client. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { credentials, makeGenericClientConstructor, Metadata as GrpcMetadata, type ServiceError } from "@grpc/grpc-js";
import { FindNodeReply, FindNodeRequest } from "../../generated/islb/islb.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startAgent } from "../helpers/islb.js";
import { serveWithGateway, stopChild } from "../helpers/serve-gateway.js";

test("islb serve --gateway answers stock gRPC clients for the services on the bus, islb.ISLB among them", async () => {
  const ns = await startNatsServer();
  const { child, gatewayAt } = await serveWithGateway(["--nats", ns.url, "--nid", "islb-gw"]);
  try {
    const agent = await startAgent(ns.url, "sfu-gw");
    const Client = makeGenericClientConstructor(
      {
        findNode: {
          path: "/islb.ISLB/FindNode",
          requestStream: false,
          responseStream: false,
          requestSerialize: (r: FindNodeRequest) => Buffer.from(FindNodeRequest.encode(r).finish()),
          requestDeserialize: (b: Buffer) => FindNodeRequest.decode(b),
          responseSerialize: (r: FindNodeReply) => Buffer.from(FindNodeReply.encode(r).finish()),
          responseDeserialize: (b: Buffer) => FindNodeReply.decode(b),
        },
      },
      "ISLB",
    );
    const client = new Client(gatewayAt, credentials.createInsecure()) as unknown as {
      findNode(r: FindNodeRequest, md: GrpcMetadata, cb: (e: ServiceError | null, r?: FindNodeReply) => void): void;
      close(): void;
    };
    const call = (r: FindNodeRequest): Promise<FindNodeReply> =>
      new Promise((res, rej) =>
        client.findNode(r, new GrpcMetadata(), (e, v) => (e ? rej(e) : res(v as FindNodeReply))),
      );
    let reply: FindNodeReply | undefined;
    for (let i = 0; i < 50 && (reply?.nodes.length ?? 0) === 0; i++) {
      reply = await call(FindNodeRequest.fromPartial({ service: "rtc", sid: "room-gw" }));
      if (reply.nodes.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(reply?.nodes[0]?.nid, "sfu-gw");
    await assert.rejects(
      call(FindNodeRequest.fromPartial({ service: "a.b" })),
      (e: ServiceError) => e.code === 3 && /service "a\.b"/.test(e.details),
    );
    client.close();
    await agent.agent.stop();
    await agent.nc.close();
  } finally {
    await stopChild(child);
    await ns.stop();
  }
});
