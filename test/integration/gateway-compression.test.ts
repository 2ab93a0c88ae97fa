/**
 * Compression through the gateway: stock grpc-js clients with `grpc.default_compression_algorithm`
 * send compressed requests and get compressed responses; connect-node's Connect and gRPC-Web
 * clients (which accept gzip) get compressed responses; raw HTTP/2 and fetch requests show
 * that only messages over the threshold are compressed, and only when the client accepts it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { gunzipSync } from "node:zlib";
import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
} from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { SimpleRequest, SimpleResponse } from "../../generated/testing/test.js";
import { messagePrefix } from "../../src/gateway/framing.js";
import { readAll, startGateway, testClients, unary, type GatewayEnv } from "./gateway-env.js";

const { OPTIONAL: OPT, REPEATED: REP } = FieldDescriptorProto_Label;
const { BYTES: TYPE_BYTES, INT32: TYPE_INT32, MESSAGE: TYPE_MESSAGE } = FieldDescriptorProto_Type;

/** grpc.testing.TestService's UnaryCall and StreamingOutputCall, with the fields the test uses. */
function testServiceDesc(): DescService {
  const msg = (name: string, fields: Array<[string, number, number, number, string?]>) => ({
    name,
    field: fields.map(([n, number, label, type, typeName]) => ({
      name: n,
      jsonName: n,
      number,
      label,
      type,
      typeName,
    })),
  });
  const file = create(FileDescriptorProtoSchema, {
    name: "compression-test.proto",
    package: "grpc.testing",
    syntax: "proto3",
    messageType: [
      msg("Payload", [["body", 2, OPT, TYPE_BYTES]]),
      msg("SimpleRequest", [
        ["response_size", 2, OPT, TYPE_INT32],
        ["payload", 3, OPT, TYPE_MESSAGE, ".grpc.testing.Payload"],
      ]),
      msg("SimpleResponse", [["payload", 1, OPT, TYPE_MESSAGE, ".grpc.testing.Payload"]]),
      msg("ResponseParameters", [["size", 1, OPT, TYPE_INT32]]),
      msg("StreamingOutputCallRequest", [
        ["response_parameters", 2, REP, TYPE_MESSAGE, ".grpc.testing.ResponseParameters"],
      ]),
      msg("StreamingOutputCallResponse", [["payload", 1, OPT, TYPE_MESSAGE, ".grpc.testing.Payload"]]),
    ],
    service: [
      {
        name: "TestService",
        method: [
          { name: "UnaryCall", inputType: ".grpc.testing.SimpleRequest", outputType: ".grpc.testing.SimpleResponse" },
          {
            name: "StreamingOutputCall",
            inputType: ".grpc.testing.StreamingOutputCallRequest",
            outputType: ".grpc.testing.StreamingOutputCallResponse",
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

interface Out {
  payload?: { body: Uint8Array };
}

describe("gateway: compression", () => {
  let g: GatewayEnv;
  before(async () => {
    g = await startGateway({ micro: true });
  });
  after(async () => {
    await g.close();
  });

  for (const [name, algorithm] of [
    ["gzip", 2],
    ["deflate", 1],
  ] as const) {
    test(`grpc-js with grpc.default_compression_algorithm (${name}): compressed requests and responses, all kinds`, async () => {
      const { test: client } = testClients(g.address, grpc.credentials.createInsecure(), {
        "grpc.default_compression_algorithm": algorithm,
      });
      try {
        const big = Buffer.alloc(50_000, 7);
        const r = await unary<{ payload: { body: Buffer } }>(client, "unaryCall", {
          responseSize: 100_000,
          payload: { body: big },
        });
        assert.equal(r.value.payload.body.length, 100_000);
        const s = await readAll<{ payload: { body: Buffer } }>(
          client.streamingOutputCall!({
            responseParameters: [{ size: 10 }, { size: 5000 }, { size: 200_000 }],
          }) as grpc.ClientReadableStream<{ payload: { body: Buffer } }>,
        );
        assert.deepEqual(
          s.values.map((v) => v.payload.body.length),
          [10, 5000, 200_000],
        );
        // Client streaming: every compressed request message inflated by the gateway.
        const total = await new Promise<number>((resolve, reject) => {
          const call = client.streamingInputCall!(
            (e: grpc.ServiceError | null, v: { aggregatedPayloadSize: number }) =>
              e === null ? resolve(v.aggregatedPayloadSize) : reject(e),
          ) as grpc.ClientWritableStream<unknown>;
          for (const n of [10, 3000, 70_000]) call.write({ payload: { body: Buffer.alloc(n, 1) } });
          call.end();
        });
        assert.equal(total, 73_010);
      } finally {
        client.close();
      }
    });
  }

  /** One raw gRPC unary call over HTTP/2: the response headers and its one message's flags and bytes. */
  async function rawUnary(
    accept: string | undefined,
    size: number,
  ): Promise<{ headers: http2.IncomingHttpHeaders; flags: number; message: Buffer }> {
    const session = http2.connect(`http://${g.address}`);
    try {
      const req = SimpleRequest.encode(SimpleRequest.fromPartial({ responseSize: size })).finish();
      const h: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": "/grpc.testing.TestService/UnaryCall",
        "content-type": "application/grpc",
        te: "trailers",
      };
      if (accept !== undefined) h["grpc-accept-encoding"] = accept;
      const s = session.request(h);
      s.end(Buffer.concat([messagePrefix(req.length), req]));
      const headers = await new Promise<http2.IncomingHttpHeaders>((r) => s.once("response", r));
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => chunks.push(c));
      await new Promise((r) => s.once("end", r));
      const body = Buffer.concat(chunks);
      return { headers, flags: body[0] as number, message: body.subarray(5, 5 + body.readUInt32BE(1)) };
    } finally {
      session.close();
    }
  }

  test("raw gRPC: a response over the threshold is gzip'd when accepted; small ones and non-accepting clients get identity", async () => {
    const big = await rawUnary("identity,deflate,gzip", 20_000);
    assert.equal(big.headers["grpc-encoding"], "gzip");
    assert.equal(big.flags, 1);
    assert.ok(big.message.length < 1000, `20 kB of zeros compress: ${big.message.length} bytes`);
    assert.equal(SimpleResponse.decode(gunzipSync(big.message)).payload?.body.length, 20_000);

    const deflate = await rawUnary("deflate", 20_000);
    assert.equal(deflate.headers["grpc-encoding"], "deflate");
    assert.equal(deflate.flags, 1);

    const small = await rawUnary("gzip", 100);
    assert.equal(small.headers["grpc-encoding"], undefined, "a unary response under the threshold announces nothing");
    assert.equal(small.flags, 0);
    assert.equal(SimpleResponse.decode(small.message).payload?.body.length, 100);

    for (const accept of [undefined, "identity", "br", "gzip;q=0"]) {
      const none = await rawUnary(accept, 20_000);
      assert.equal(none.headers["grpc-encoding"], undefined, String(accept));
      assert.equal(none.flags, 0, String(accept));
      assert.equal(none.message.length > 20_000, true);
    }
  });

  /** The response header naming the encoding of the messages, as each protocol names it. */
  const encodingHeaders = ["content-encoding", "connect-content-encoding", "grpc-encoding"];
  const transports: Array<[string, (baseUrl: string, seen: Interceptor) => Transport]> = [
    [
      "Connect",
      (baseUrl, seen) =>
        createConnectTransport({
          baseUrl,
          httpVersion: "2",
          sendCompression: compressionGzip,
          compressMinBytes: 100,
          interceptors: [seen],
        }),
    ],
    [
      "Connect over HTTP/1.1",
      (baseUrl, seen) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [seen] }),
    ],
    [
      "gRPC-Web",
      (baseUrl, seen) =>
        createGrpcWebTransport({
          baseUrl,
          httpVersion: "2",
          sendCompression: compressionGzip,
          compressMinBytes: 100,
          interceptors: [seen],
        }),
    ],
  ];
  for (const [name, make] of transports) {
    test(`${name} (connect-node, accepts gzip): unary and streaming responses come compressed and arrive whole`, async () => {
      const encodings: string[] = [];
      const seen: Interceptor = (next) => async (req) => {
        const res = await next(req);
        encodings.push(encodingHeaders.map((h) => res.header.get(h)).find((v) => v !== null) ?? "none");
        return res;
      };
      const client = createClient(testServiceDesc(), make(`http://${g.address}`, seen)) as unknown as {
        unaryCall(m: object): Promise<Out>;
        streamingOutputCall(m: object): AsyncIterable<Out>;
      };
      const r = await client.unaryCall({ responseSize: 100_000, payload: { body: new Uint8Array(5000) } });
      assert.equal(r.payload?.body.length, 100_000);
      const sizes: number[] = [];
      for await (const m of client.streamingOutputCall({ responseParameters: [{ size: 5 }, { size: 30_000 }] }))
        sizes.push(m.payload?.body.length ?? -1);
      assert.deepEqual(sizes, [5, 30_000]);
      assert.deepEqual(encodings, ["gzip", "gzip"]);
    });
  }

  test("raw Connect unary: content-encoding gzip only when accepted and over the threshold", async () => {
    const url = `http://${g.address}/grpc.testing.TestService/UnaryCall`;
    const post = (size: number, accept?: string) =>
      fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/proto",
          ...(accept === undefined ? {} : { "accept-encoding": accept }),
        },
        body: SimpleRequest.encode(SimpleRequest.fromPartial({ responseSize: size })).finish(),
      });
    const big = await post(20_000, "gzip, br");
    assert.equal(big.status, 200);
    assert.equal(big.headers.get("content-encoding"), "gzip");
    // fetch inflates it: the body is the message.
    assert.equal(SimpleResponse.decode(new Uint8Array(await big.arrayBuffer())).payload?.body.length, 20_000);
    const small = await post(10, "gzip");
    assert.equal(small.headers.get("content-encoding"), null);
    const plain = await post(20_000, "identity");
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal((await plain.arrayBuffer()).byteLength > 20_000, true);
    // Its encoding depends on accept-encoding, compressed or not: HTTP caches must key on it.
    for (const r of [big, small, plain]) assert.equal(r.headers.get("vary"), "accept-encoding");
  });
});
