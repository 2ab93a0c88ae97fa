/**
 * Reflection and health through the gateway, asked by stock clients: grpc-js-reflection-client
 * (v1 and v1alpha) lists and describes islb.ISLB, which an islb on the bus serves, and then
 * calls FindNode with the schema it downloaded; an allow list hides what it does not name.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { GrpcReflection } from "grpc-js-reflection-client";
import { connect, type NatsConnection } from "nats";
import type { Running } from "../../src/cli/serve.js";
import { withOwnServices } from "../../src/gateway/own.js";
import { Gateway, type GatewayOptions } from "../../src/gateway/server.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";

describe("gateway: reflection and health for the services on the bus", () => {
  let ns: NatsServerProcess;
  let islb: Running;
  let gnc: NatsConnection;
  let agent: Awaited<ReturnType<typeof startAgent>>;
  before(async () => {
    ns = await startNatsServer();
    islb = await startIslb(ns.url);
    agent = await startAgent(ns.url, "sfu-1");
    gnc = await connect({ servers: ns.url });
  });
  after(async () => {
    await agent.agent.stop().catch(() => undefined);
    await agent.nc.close();
    await gnc.close();
    await islb.close();
    await ns.stop();
  });

  async function gatewayWith(options: GatewayOptions): Promise<{ gw: Gateway; address: string }> {
    const gw = new Gateway(gnc, withOwnServices(gnc, options));
    const a = await gw.listen(0, "127.0.0.1");
    return { gw, address: `127.0.0.1:${a.port}` };
  }

  for (const version of ["v1", "v1alpha"]) {
    test(`grpc-js-reflection-client (${version}) lists and describes islb.ISLB, then calls FindNode with that schema`, async () => {
      const { gw, address } = await gatewayWith({});
      const r = new GrpcReflection(address, grpc.credentials.createInsecure(), {}, version);
      const services = await r.listServices();
      for (const s of [
        "islb.ISLB",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ])
        assert.ok(services.includes(s), `${s} in ${JSON.stringify(services)}`);
      const methods = (await r.listMethods("islb.ISLB")).map((m) => m.name);
      for (const m of ["FindNode", "Register", "Heartbeat", "Watch"])
        assert.ok(methods.includes(m), `${m} in ${JSON.stringify(methods)}`);
      const watch = (await r.listMethods("islb.ISLB")).find((m) => m.name === "Watch");
      assert.equal(watch?.definition.responseStream, true);
      // The schema from reflection is enough for a stock client to call through the gateway.
      const pkg = (await r.getDescriptorBySymbol("islb.ISLB")).getPackageObject({
        keepCase: true,
        longs: String,
        defaults: true,
      }) as unknown as {
        islb: { ISLB: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { FindNode: Function } };
      };
      const client = new pkg.islb.ISLB(address, grpc.credentials.createInsecure());
      const reply = await new Promise<{ nodes: Array<{ nid: string }> }>((resolve, reject) =>
        client.FindNode({ service: "rtc" }, (e: Error | null, v: { nodes: Array<{ nid: string }> }) =>
          e ? reject(e) : resolve(v),
        ),
      );
      assert.deepEqual(
        reply.nodes.map((n) => n.nid),
        ["sfu-1"],
      );
      client.close();
      await gw.close();
    });
  }

  test("an allow list hides the services it does not name from reflection", async () => {
    const { gw, address } = await gatewayWith({ allow: ["grpc.testing.TestService"] });
    const r = new GrpcReflection(address, grpc.credentials.createInsecure());
    const services = await r.listServices();
    assert.ok(!services.includes("islb.ISLB"), `islb.ISLB is listed: ${JSON.stringify(services)}`);
    assert.ok(services.includes("grpc.health.v1.Health"));
    await assert.rejects(r.getDescriptorBySymbol("islb.ISLB"));
    await assert.rejects(r.getDescriptorBySymbol("islb.ISLB.FindNode"));
    await gw.close();
  });

  test("grpc.health.v1 Check: the gateway itself, and islb.ISLB passed through to islb's health", async () => {
    const { gw, address } = await gatewayWith({});
    const c = new grpc.Client(address, grpc.credentials.createInsecure());
    const check = (service: string): Promise<Buffer> =>
      new Promise((resolve, reject) =>
        c.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (s: string) => Buffer.concat([Buffer.from([0x0a, s.length]), Buffer.from(s)]),
          (b: Buffer) => b,
          service,
          (e, v) => (e ? reject(e) : resolve(v as Buffer)),
        ),
      );
    assert.deepEqual([...(await check(""))], [0x08, 1], "SERVING");
    assert.deepEqual([...(await check("islb.ISLB"))], [0x08, 1], "islb says SERVING");
    // Watch of the gateway itself: SERVING now, then NOT_SERVING when its NATS connection closes.
    const wnc = await connect({ servers: ns.url });
    const wgw = new Gateway(wnc, withOwnServices(wnc, {}));
    const wa = await wgw.listen(0, "127.0.0.1");
    const wc = new grpc.Client(`127.0.0.1:${wa.port}`, grpc.credentials.createInsecure());
    const watch = wc.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
    );
    const seen: number[][] = [];
    watch.on("data", (b: Buffer) => seen.push([...b]));
    watch.on("error", () => undefined);
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 300 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    assert.deepEqual(seen[0], [0x08, 1]);
    await wnc.close();
    await until(2);
    assert.deepEqual(seen[1], [0x08, 2], "NOT_SERVING once the gateway's NATS connection is gone");
    watch.cancel();
    wc.close();
    await wgw.close();
    c.close();
    await gw.close();
  });
});
