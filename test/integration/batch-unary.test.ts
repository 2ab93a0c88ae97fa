/**
 * `batchUnary`: unary requests wait in the connection's outbox until the turn of the event
 * loop ends (the gateway's setting). Requests started by separate callbacks of one turn leave
 * in fewer socket writes, every call still gets its own answer, and a request NATS refuses
 * when its batch goes out fails its own call with the right status.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { ClientError, Metadata, Status, createClient, createServer, type NatsServer } from "../../src/index.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { withUnimplemented } from "../helpers/services.js";

describe("batched unary requests", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let snc: NatsConnection;
  let server: NatsServer;
  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    snc = await connect({ servers: ns.url });
    server = createServer();
    server.add(
      ISLBDefinition,
      withUnimplemented(ISLBDefinition, {
        async findNode(req) {
          return { nodes: [{ dc: "dc1", nid: req.sid, service: req.service, rpc: undefined }] };
        },
      }),
    );
    await server.listen(snc);
  });
  after(async () => {
    await server.close();
    await nc.close();
    await snc.close();
    await ns.stop();
  });

  test("a batched request waits for the end of the turn; calls of separate callbacks each get their answer", async () => {
    const client = createClient(ISLBDefinition, nc, { batchUnary: true });
    const plain = createClient(ISLBDefinition, nc);
    await client.findNode({ service: "warm", sid: "0" });
    // Unbatched, the request is handed to nats.js at once; batched, at the end of the turn.
    let out = nc.stats().outMsgs;
    const p1 = plain.findNode({ service: "s", sid: "p" });
    assert.equal(nc.stats().outMsgs, out + 1);
    out += 1;
    const b1 = client.findNode({ service: "s", sid: "b1" });
    const b2 = client.findNode({ service: "s", sid: "b2" });
    assert.equal(nc.stats().outMsgs, out, "batched requests are not published within the turn");
    await new Promise((r) => setImmediate(r));
    assert.equal(nc.stats().outMsgs, out + 2, "both leave together when the turn ends");
    assert.deepEqual([(await p1).nodes[0]?.nid, (await b1).nodes[0]?.nid, (await b2).nodes[0]?.nid], ["p", "b1", "b2"]);
    // Each call from its own immediate (as the gateway's HTTP/2 streams each come in their own callback).
    const got = await new Promise<string[]>((resolve, reject) => {
      const calls: Promise<string>[] = [];
      for (let i = 0; i < 50; i++)
        setImmediate(() =>
          calls.push(client.findNode({ service: "s", sid: String(i) }).then((r) => r.nodes[0]?.nid ?? "")),
        );
      setImmediate(() => Promise.all(calls).then(resolve, reject));
    });
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => String(i)),
    );
  });

  test("a request NATS refuses when its batch goes out fails its own call (RESOURCE_EXHAUSTED); the others pass", async () => {
    const client = createClient(ISLBDefinition, nc, { batchUnary: true });
    const max = nc.info?.max_payload ?? 1024 * 1024;
    // The message fits max_payload alone; with its metadata headers the publish is over it.
    const big = "x".repeat(max - 64);
    const md = Metadata({ pad: "y".repeat(512) });
    const refused = client.findNode({ service: big, sid: "big" }, { metadata: md });
    const fine = client.findNode({ service: "s", sid: "ok" });
    await assert.rejects(refused, (e: unknown) => e instanceof ClientError && e.code === Status.RESOURCE_EXHAUSTED);
    assert.equal((await fine).nodes[0]?.nid, "ok");
  });
});
