/**
 * Rich error details (`grpc-status-details-bin`, a google.rpc.Status) from a service on the
 * bus reach stock clients through the gateway: grpc-js sees the trailer in the error's
 * metadata, Connect clients (connect-node, Connect and gRPC-Web) see them as the error's
 * details, for a unary call and for a stream that fails after a message.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { ServerError, Status, createServer, type NatsServer } from "../../src/index.js";
import { TestServiceDefinition } from "../../generated/testing/test.js";
import { Status as StatusMessage } from "../../generated/nrpc/nrpc.js";
import { readAll, startGateway, testClients, unary, type GatewayEnv } from "./gateway-env.js";

/** A google.rpc.Status with one detail (a google.rpc.ErrorInfo-shaped message, as bytes). */
const detailBytes = new Uint8Array([
  0x0a, 0x04, 0x71, 0x75, 0x6f, 0x74, 0x12, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
]);
const statusBin = StatusMessage.encode({
  code: Status.RESOURCE_EXHAUSTED,
  message: "over quota",
  details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: Buffer.from(detailBytes) }],
}).finish();

/** grpc.testing.TestService with messages that have no fields (the test reads only errors). */
function testServiceDesc(): DescService {
  const file = create(FileDescriptorProtoSchema, {
    name: "details-test.proto",
    package: "grpc.testing",
    syntax: "proto3",
    messageType: [{ name: "M" }],
    service: [
      {
        name: "TestService",
        method: [
          { name: "UnaryCall", inputType: ".grpc.testing.M", outputType: ".grpc.testing.M" },
          {
            name: "StreamingOutputCall",
            inputType: ".grpc.testing.M",
            outputType: ".grpc.testing.M",
            serverStreaming: true,
          },
        ],
      },
    ],
  });
  const s = createFileRegistry(file, () => undefined).getService("grpc.testing.TestService");
  assert.ok(s !== undefined);
  return s;
}

describe("gateway: rich error details (grpc-status-details-bin)", () => {
  let g: GatewayEnv;
  let rich: NatsServer;
  let baseUrl: string;
  before(async () => {
    g = await startGateway({ micro: true });
    baseUrl = `http://${g.address}`;
    rich = createServer({ nid: "rich" });
    rich.add(TestServiceDefinition, {
      async unaryCall(_req: unknown, ctx: { trailer: { set(k: string, v: Uint8Array): void } }) {
        ctx.trailer.set("grpc-status-details-bin", statusBin);
        throw new ServerError(Status.RESOURCE_EXHAUSTED, "over quota");
      },
      async *streamingOutputCall(_req: unknown, ctx: { trailer: { set(k: string, v: Uint8Array): void } }) {
        yield { payload: { body: Buffer.from("one") } };
        ctx.trailer.set("grpc-status-details-bin", statusBin);
        throw new ServerError(Status.RESOURCE_EXHAUSTED, "over quota");
      },
    } as never);
    await rich.listen(g.env.snc);
  });
  after(async () => {
    await rich.close();
    await g.close();
  });

  const toRich = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set("islb-nid", "rich");
    return md;
  };

  test("grpc-js: a unary error and a stream's error carry the service's details in their metadata", async () => {
    const { test: client } = testClients(g.address);
    try {
      const e = await unary(client, "unaryCall", {}, toRich()).then(
        () => assert.fail("the call succeeded"),
        (err: grpc.ServiceError) => err,
      );
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(e.details, "over quota");
      const got = e.metadata.get("grpc-status-details-bin")[0] as Buffer;
      assert.deepEqual(new Uint8Array(got), statusBin);
      const s = StatusMessage.decode(got);
      assert.equal(s.details[0]?.typeUrl, "type.googleapis.com/google.rpc.ErrorInfo");

      const call = client.streamingOutputCall!(
        { responseParameters: [] },
        toRich(),
      ) as grpc.ClientReadableStream<unknown>;
      const se = await readAll(call).then(
        () => assert.fail("the stream succeeded"),
        (err: grpc.ServiceError) => err,
      );
      assert.equal(se.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.deepEqual(new Uint8Array(se.metadata.get("grpc-status-details-bin")[0] as Buffer), statusBin);
    } finally {
      client.close();
    }
  });

  const transports: Array<[string, () => Transport]> = [
    ["Connect", () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
  ];
  for (const [name, make] of transports) {
    test(`${name} (connect-node): the error's details are the service's, unary and streaming`, async () => {
      const client = createClient(testServiceDesc(), make()) as unknown as {
        unaryCall(m: object, o: object): Promise<unknown>;
        streamingOutputCall(m: object, o: object): AsyncIterable<unknown>;
      };
      const headers = { "islb-nid": "rich" };
      const check = (e: unknown): void => {
        assert.ok(e instanceof ConnectError, String(e));
        assert.equal(e.code as number, Status.RESOURCE_EXHAUSTED);
        assert.equal(e.rawMessage, "over quota");
        assert.equal(e.details.length, 1);
        const d = e.details[0] as { type: string; value: Uint8Array };
        assert.equal(d.type, "google.rpc.ErrorInfo");
        assert.deepEqual(new Uint8Array(d.value), detailBytes);
        // Connect: the details are the error's, not left over as trailer- headers too.
        if (name === "Connect") assert.equal(e.metadata.get("trailer-grpc-status-details-bin"), null);
      };
      await client.unaryCall({}, { headers }).then(() => assert.fail("the call succeeded"), check);
      let n = 0;
      await (async () => {
        for await (const _ of client.streamingOutputCall({}, { headers })) n++;
      })().then(() => assert.fail("the stream succeeded"), check);
      assert.equal(n, 1, "the message before the error arrives");
    });
  }

  test("Connect's error JSON (a raw POST): details as {type, value} with value base64", async () => {
    const r = await fetch(`${baseUrl}/grpc.testing.TestService/UnaryCall`, {
      method: "POST",
      headers: { "content-type": "application/proto", "islb-nid": "rich" },
      body: new Uint8Array(0),
    });
    assert.equal(r.status, 429);
    const body = (await r.json()) as { code: string; message: string; details: Array<{ type: string; value: string }> };
    assert.equal(body.code, "resource_exhausted");
    assert.deepEqual(body.details, [
      { type: "google.rpc.ErrorInfo", value: Buffer.from(detailBytes).toString("base64").replace(/=+$/, "") },
    ]);
    assert.equal(r.headers.get("trailer-grpc-status-details-bin"), null);
  });
});
