/**
 * Replays the client frames captured from Go nats-grpc clients against our server and
 * compares our answers with the Go server's. Where we answer differently on purpose, the
 * test says what we send instead and why.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "nats";
import { createServer, ServerError, Status, type NatsServer } from "../../src/index.js";
import { ISLBDefinition, type FindNodeRequest } from "../../generated/islb/islb.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { decodeResponse } from "../../src/wire/frames.js";
import { interopService, withUnimplemented } from "../helpers/services.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { hex, natsGrpcScenarios, unhex, type Scenario } from "../helpers/vectors.js";

/** The FindNode the Go capture server had: two fixed nodes, and NOT_FOUND for sid "error". */
const islbStub = {
  async findNode(req: FindNodeRequest) {
    if (req.sid === "error") throw new ServerError(Status.NOT_FOUND, "no nodes for sid error");
    return {
      nodes: [
        {
          dc: "dc1",
          nid: "sfu-1",
          service: "rtc",
          rpc: {
            protocol: "nats",
            addr: "nats://127.0.0.1:4222",
            params: new Map([
              ["region", "eu"],
              ["weight", "10"],
            ]),
          },
        },
        {
          dc: "dc2",
          nid: "sfu-2",
          service: "rtc",
          rpc: { protocol: "grpc", addr: "127.0.0.1:5551", params: new Map() },
        },
      ],
    };
  },
};

async function replay(nc: NatsConnection, s: Scenario): Promise<string[]> {
  const inbox = createInbox();
  const got: string[] = [];
  const sub = nc.subscribe(inbox, { callback: (_e, m) => got.push(hex(m.data)) });
  for (const f of s.frames.filter((x) => x.dir === "client->server")) {
    nc.publish(f.subject, unhex(f.hex), { reply: inbox });
    await nc.flush();
  }
  await new Promise((r) => setTimeout(r, 150));
  sub.unsubscribe();
  return got;
}

const expectedServerFrames = (s: Scenario): string[] =>
  s.frames.filter((f) => f.dir === "server->client").map((f) => f.hex);
const endCode = (frameHex: string | undefined): number | undefined =>
  frameHex === undefined ? undefined : (decodeResponse(unhex(frameHex)).end?.status?.code ?? 0);

describe("replay of captured Go client frames against our server", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let servers: NatsServer[];
  const scenarios = natsGrpcScenarios();
  const find = (cmd: string): Scenario => {
    const s = scenarios.find((x) => x.command.includes(cmd));
    assert.ok(s, `a scenario with ${cmd}`);
    return s;
  };

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    servers = [
      createServer({ nid: "islb-node-1" }).add(ISLBDefinition, withUnimplemented(ISLBDefinition, islbStub)),
      createServer({ nid: "t1" }).add(TestDefinition, interopService),
    ];
    for (const s of servers) await s.listen(nc);
  });
  after(async () => {
    for (const s of servers) await s.close();
    await nc.close();
    await ns.stop();
  });

  // Scenarios we answer with exactly the Go server's bytes.
  for (const cmd of [
    "-sid room1",
    "-sid error",
    "-call hello",
    'Count [{"call":{"method":"/interop',
    'Count [{"call":{"method":"x"}},{"data":"0805',
    "-call fail -code 3",
    'Chat [{"call"',
  ]) {
    test(`same bytes as the Go server: ${cmd}`, async () => {
      const s = find(cmd);
      assert.deepEqual(await replay(nc, s), expectedServerFrames(s));
    });
  }

  test("unknown method: UNIMPLEMENTED like Go (our message names what exists)", async () => {
    const got = await replay(nc, find("/interop.test.Test/Nope"));
    assert.equal(got.length, 1);
    assert.equal(endCode(got[0]), Status.UNIMPLEMENTED);
    assert.match(decodeResponse(unhex(got[0] as string)).end?.status?.message ?? "", /unknown method Nope.*Hello/);
  });

  test("unknown service on a node: Go stays silent, we answer UNIMPLEMENTED", async () => {
    for (const s of scenarios.filter((x) => x.command.includes("/nope.Svc/X"))) {
      const got = await replay(nc, s);
      assert.deepEqual(expectedServerFrames(s), []);
      assert.equal(got.length, 1);
      assert.equal(endCode(got[0]), Status.UNIMPLEMENTED);
    }
  });

  test("a panicking handler: Go never answers, we end the call UNKNOWN", async () => {
    const got = await replay(nc, find("-call fail -panic"));
    assert.equal(got.length, 1);
    assert.equal(endCode(got[0]), Status.UNKNOWN);
  });

  test("client streaming: we do not add Go's extra empty message after the half-close", async () => {
    const s = find('Sum [{"call"');
    assert.deepEqual(expectedServerFrames(s)[0], "1a0c0a0a080310031a001a001a00"); // Go: count 3 for 2 inputs
    const got = await replay(nc, s);
    assert.equal(got.length, 2);
    const data = decodeResponse(unhex(got[0] as string)).data?.data as Uint8Array;
    assert.equal(hex(data), "080310021a001a00"); // total 3, count 2, msgs ["", ""]
    assert.equal(got[1], "2200");
  });

  test("bidi from the Go client: our answers, then End without Go's reply to the extra empty message", async () => {
    const s = find("-call chat -n 2");
    const got = await replay(nc, s);
    const goFrames = expectedServerFrames(s);
    assert.deepEqual(got, [goFrames[0], goFrames[1], "2200"]);
  });

  test("Go client server-streaming and client-streaming calls (which it half-closes at once) get a complete answer", async () => {
    const count = await replay(nc, find("-call count -n 2"));
    assert.deepEqual(
      count.map(
        (f) =>
          Object.keys(decodeResponse(unhex(f))).filter(
            (k) => (decodeResponse(unhex(f)) as Record<string, unknown>)[k] !== undefined,
          )[0],
      ),
      ["data", "data", "end"],
    );
    const sum = await replay(nc, find("-call sum -n 2"));
    assert.equal(sum.length, 2);
    assert.equal(endCode(sum[1]), Status.OK);
  });
});
