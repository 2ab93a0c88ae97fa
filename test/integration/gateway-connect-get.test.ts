/**
 * Connect's GET form of unary calls through the gateway: a stock Connect client
 * (@connectrpc/connect-node with `useHttpGet: true`, binary and JSON) calls ISLB's FindNode
 * (marked NO_SIDE_EFFECTS in the client's copy of the schema: Connect clients use GET only for
 * such methods) and the request goes as a GET; raw GETs show the query's forms and refusals.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { create, createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, MethodOptionsSchema, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import { compressionGzip, createNodeHttpClient } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "nats";
import type { Running } from "../../src/cli/serve.js";
import { withOwnServices } from "../../src/gateway/own.js";
import { Gateway } from "../../src/gateway/server.js";
import { islbDescriptorSet } from "../../src/reflection/descriptors.js";
import { FindNodeReply, FindNodeRequest } from "../../generated/islb/islb.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";

interface IslbClient {
  findNode(
    req: { service?: string },
    opts?: { headers?: Record<string, string> },
  ): Promise<{ nodes: { nid: string }[] }>;
}

/** islb.ISLB with FindNode marked NO_SIDE_EFFECTS, as a client's schema would have it. */
function getService(): DescService {
  const set = fromBinary(FileDescriptorSetSchema, islbDescriptorSet());
  for (const f of set.file)
    for (const s of f.service)
      for (const m of s.method)
        if (s.name === "ISLB" && m.name === "FindNode")
          m.options = create(MethodOptionsSchema, { idempotencyLevel: MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS });
  const s = createFileRegistry(set).getService("islb.ISLB");
  assert.ok(s !== undefined);
  return s;
}

describe("gateway: Connect GET requests", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let gnc: NatsConnection;
  let gateway: Gateway;
  let baseUrl: string;
  let agent: { agent: { stop(): Promise<void> }; nc: NatsConnection };
  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url);
    agent = await startAgent(ns.url, "sfu-1");
    gnc = await connect({ servers: ns.url });
    gateway = new Gateway(gnc, withOwnServices(gnc, { corsOrigins: ["https://app.example"] }));
    baseUrl = `http://127.0.0.1:${(await gateway.listen(0, "127.0.0.1")).port}`;
  });
  after(async () => {
    await agent.agent.stop().catch(() => undefined);
    await agent.nc.close();
    await gateway.close();
    await gnc.close();
    await islb.close();
    await ns.stop();
  });

  for (const [name, binary] of [
    ["binary", true],
    ["JSON", false],
  ] as const) {
    test(`connect-node with useHttpGet (${name}): FindNode goes as a GET and answers; errors keep their code`, async () => {
      // connect-node's Connect transport, with its HTTP client watched to see the method it sends.
      const methods: string[] = [];
      const http = createNodeHttpClient({ httpVersion: "1.1" });
      const transport = createTransport({
        baseUrl,
        httpClient: (req) => {
          methods.push(req.method);
          return http(req);
        },
        useBinaryFormat: binary,
        useHttpGet: true,
        interceptors: [],
        sendCompression: null,
        acceptCompression: [compressionGzip],
        compressMinBytes: 1024,
        readMaxBytes: 0xffffffff,
        writeMaxBytes: 0xffffffff,
      });
      const client = createClient(getService(), transport) as unknown as IslbClient;
      const found = await client.findNode({ service: "rtc" });
      assert.ok(
        found.nodes.some((x) => x.nid === "sfu-1"),
        JSON.stringify(found, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)),
      );
      await assert.rejects(
        client.findNode({ service: "rtc" }, { headers: { "islb-nid": "nobody" } }),
        (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable,
      );
      assert.deepEqual(methods, ["GET", "GET"]);
    });
  }

  test("raw GETs: base64, percent-encoded bytes, compressed, JSON; refusals say why", async () => {
    const req = FindNodeRequest.encode(FindNodeRequest.fromPartial({ service: "rtc" })).finish();
    const nids = async (r: Response): Promise<string[]> => {
      assert.equal(r.status, 200, await r.clone().text());
      assert.equal(r.headers.get("content-type"), "application/proto");
      return FindNodeReply.decode(new Uint8Array(await r.arrayBuffer())).nodes.map((n) => n.nid);
    };
    const url = (q: string): string => `${baseUrl}/islb.ISLB/FindNode?${q}`;
    const b64 = Buffer.from(req).toString("base64url");
    assert.deepEqual(await nids(await fetch(url(`connect=v1&encoding=proto&base64=1&message=${b64}`))), ["sfu-1"]);
    const pct = [...req].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    assert.deepEqual(await nids(await fetch(url(`encoding=proto&message=${pct}`))), ["sfu-1"]);
    const gz = gzipSync(req).toString("base64url");
    assert.deepEqual(
      await nids(await fetch(url(`connect=v1&encoding=proto&compression=gzip&base64=1&message=${gz}`))),
      ["sfu-1"],
    );
    const j = await fetch(url(`connect=v1&encoding=json&message=${encodeURIComponent('{"service":"rtc"}')}`));
    assert.equal(j.status, 200);
    assert.equal(j.headers.get("content-type"), "application/json");
    const body = (await j.json()) as { nodes: { nid: string }[] };
    assert.deepEqual(
      body.nodes.map((n) => n.nid),
      ["sfu-1"],
    );

    const refused = async (q: string, status: number, code: string, re: RegExp): Promise<void> => {
      const r = await fetch(url(q));
      assert.equal(r.status, status, q);
      const e = (await r.json()) as { code: string; message: string };
      assert.equal(e.code, code, q);
      assert.match(e.message, re, q);
    };
    await refused(`connect=v1&message=${b64}&base64=1`, 400, "invalid_argument", /encoding/);
    await refused(`connect=v1&encoding=xml&message=x`, 400, "invalid_argument", /encoding=xml/);
    await refused(`connect=v2&encoding=proto&message=x`, 400, "invalid_argument", /v1/);
    await refused(`connect=v1&encoding=proto`, 400, "invalid_argument", /message=/);
    await refused(`connect=v1&encoding=proto&base64=1&message=%%%`, 400, "invalid_argument", /base64/);
    await refused(`connect=v1&encoding=proto&compression=br&base64=1&message=${b64}`, 501, "unimplemented", /br/);
    await refused(`connect=v1&encoding=proto&compression=gzip&base64=1&message=${b64}`, 500, "internal", /inflate/);
    // Cross-site GETs (which a page of any site can make a browser send unasked) run only for allowed origins.
    const ok = `connect=v1&encoding=proto&base64=1&message=${b64}`;
    const from = (h: Record<string, string>) => fetch(url(ok), { headers: h });
    const allowed = await from({ origin: "https://app.example", "sec-fetch-site": "cross-site" });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
    assert.equal((await from({ "sec-fetch-site": "none" })).status, 200, "typed in the address bar");
    const crossSite: Array<Record<string, string>> = [
      { origin: "https://evil.example" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const h of crossSite) {
      const r = await from(h);
      assert.equal(r.status, 403, JSON.stringify(h));
      const e = (await r.json()) as { code: string; message: string };
      assert.equal(e.code, "permission_denied");
      assert.match(e.message, /GET/);
    }
    // A streaming method has no GET form.
    const w = await fetch(`${baseUrl}/islb.ISLB/Watch?connect=v1&encoding=proto&base64=1&message=`);
    assert.notEqual(w.status, 200);
  });
});
