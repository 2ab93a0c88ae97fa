/**
 * Browsers' protocols through the gateway: stock Connect and gRPC-Web clients from npm
 * (@connectrpc/connect-node, over HTTP/1.1 and HTTP/2; Connect in binary and in JSON, which the
 * gateway converts with the schema from the bus's reflection) call ISLB's FindNode and Watch on an
 * islb behind the gateway; errors keep their code and message; CORS only for allowed origins.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "nats";
import type { Running } from "../../src/cli/serve.js";
import { withOwnServices } from "../../src/gateway/own.js";
import { Gateway } from "../../src/gateway/server.js";
import { islbDescriptorSet } from "../../src/reflection/descriptors.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";

interface NodeOut {
  nid: string;
}
interface WatchEventOut {
  type: number;
  node?: { registration?: { node?: NodeOut } };
}
interface IslbClient {
  findNode(
    req: { service?: string; nid?: string },
    opts?: { headers?: Record<string, string>; timeoutMs?: number },
  ): Promise<{ nodes: NodeOut[] }>;
  watch(req: { service?: string }, opts?: { signal?: AbortSignal }): AsyncIterable<WatchEventOut>;
}

const SYNCED = 2;
const UP = 3;

describe("gateway: Connect and gRPC-Web clients call ISLB", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let gnc: NatsConnection;
  let gateway: Gateway;
  let baseUrl: string;
  let service: DescService;
  const agents: Array<{ agent: { stop(): Promise<void> }; nc: NatsConnection }> = [];
  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url);
    agents.push(await startAgent(ns.url, "sfu-1"));
    gnc = await connect({ servers: ns.url });
    gateway = new Gateway(gnc, withOwnServices(gnc, { corsOrigins: ["https://app.example"] }));
    const a = await gateway.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${a.port}`;
    const s = createFileRegistry(fromBinary(FileDescriptorSetSchema, islbDescriptorSet())).getService("islb.ISLB");
    assert.ok(s !== undefined);
    service = s;
  });
  after(async () => {
    for (const a of agents) {
      await a.agent.stop().catch(() => undefined);
      await a.nc.close();
    }
    await gateway.close();
    await gnc.close();
    await islb.close();
    await ns.stop();
  });

  const transports: Array<[string, () => Transport]> = [
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
    ["Connect over HTTP/2", () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
    [
      "Connect JSON (connect-web's default) over HTTP/1.1",
      () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
    ],
    ["Connect JSON over HTTP/2", () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
    ["gRPC-Web over HTTP/2", () => createGrpcWebTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ];

  let n = 1;
  for (const [name, transport] of transports) {
    test(`${name}: FindNode, Watch (snapshot, then a node coming up), and an error as the service sent it`, async () => {
      const client = createClient(service, transport()) as unknown as IslbClient;
      const found = await client.findNode({ service: "rtc" });
      assert.ok(
        found.nodes.some((x) => x.nid === "sfu-1"),
        `FindNode found ${JSON.stringify(found.nodes.map((x) => x.nid))}`,
      );

      const ac = new AbortController();
      const events: WatchEventOut[] = [];
      const it = client.watch({ service: "rtc" }, { signal: ac.signal })[Symbol.asyncIterator]();
      for (;;) {
        const r = await it.next();
        assert.equal(r.done, false);
        events.push(r.value);
        if (r.value.type === SYNCED) break;
      }
      assert.ok(
        events.some((e) => e.node?.registration?.node?.nid === "sfu-1"),
        "the snapshot holds sfu-1",
      );
      const nid = `sfu-web-${n++}`;
      agents.push(await startAgent(ns.url, nid));
      for (;;) {
        const r = await it.next();
        assert.equal(r.done, false);
        if (r.value.type === UP && r.value.node?.registration?.node?.nid === nid) break;
      }
      ac.abort();

      // A node id that would break a subject: refused by our client, with the status it gives.
      await assert.rejects(client.findNode({ service: "rtc" }, { headers: { "islb-nid": "a.b" } }), (e: unknown) => {
        assert.ok(e instanceof ConnectError);
        assert.equal(e.code, Code.InvalidArgument);
        assert.match(e.rawMessage, /node id/);
        return true;
      });
      // Nobody serves this node: UNAVAILABLE.
      await assert.rejects(
        client.findNode({ service: "rtc" }, { headers: { "islb-nid": "nobody" } }),
        (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable,
      );
    });
  }

  test("CORS: a preflight from an allowed origin is answered; others get no CORS headers", async () => {
    const ok = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    assert.equal(ok.headers.get("access-control-allow-headers"), "content-type,connect-protocol-version");
    const no = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(no.status, 403);
    assert.equal(no.headers.get("access-control-allow-origin"), null);
    const call = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/proto" },
      body: new Uint8Array(0),
    });
    assert.equal(call.status, 200);
    assert.equal(call.headers.get("access-control-allow-origin"), null);
  });

  test("a Connect unary request to a streaming method is refused, and does not make the method unary for others", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${baseUrl}/islb.ISLB/Watch`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body: new Uint8Array(0),
      });
      assert.equal(r.status, 400);
      assert.equal(((await r.json()) as { code: string }).code, "invalid_argument");
    }
    const client = createClient(
      service,
      createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
    ) as unknown as IslbClient;
    const ac = new AbortController();
    for await (const ev of client.watch({ service: "rtc" }, { signal: ac.signal })) {
      if (ev.type === SYNCED) break;
    }
    ac.abort();
  });

  test("Connect JSON: a request that is not valid JSON for its type is INVALID_ARGUMENT, and says why", async () => {
    const r = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "rtc", bogus: 1 }),
    });
    const e = (await r.json()) as { code: string; message: string };
    assert.equal(r.status, 400, JSON.stringify(e));
    assert.equal(e.code, "invalid_argument");
    assert.match(e.message, /bogus/);
    const ok = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "rtc" }),
    });
    assert.equal(ok.status, 200);
    assert.ok(((await ok.json()) as { nodes: Array<{ nid: string }> }).nodes.some((n) => n.nid === "sfu-1"));
  });

  test("gRPC-Web text (base64), as the grpc-web npm client sends it by default", async () => {
    // FindNodeRequest{service: "rtc"} = 1a 03 'rtc'
    const msg = Buffer.from([0x1a, 0x03, 0x72, 0x74, 0x63]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const r = await fetch(`${baseUrl}/islb.ISLB/FindNode`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: frame.toString("base64"),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/grpc-web-text");
    // Each frame is its own base64 part, padded: decode part by part, as grpc-web clients do.
    const body = Buffer.concat((await r.text()).split(/(?<==)(?=[^=])/).map((p) => Buffer.from(p, "base64")));
    assert.equal(body[0], 0, "a data frame first");
    const len = body.readUInt32BE(1);
    assert.ok(body.subarray(5, 5 + len).includes(Buffer.from("sfu-1")), "the reply names sfu-1");
    const trailer = body.subarray(5 + len);
    assert.equal(trailer[0], 0x80);
    assert.match(trailer.subarray(5).toString(), /^grpc-status:0\r\n/);
  });
});
