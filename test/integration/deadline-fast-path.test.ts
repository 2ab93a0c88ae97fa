/**
 * Unary calls whose only metadata is a deadline take the server's fast path: the client sends
 * headers encoded once per timeout value, the server reads `grpc-timeout` from the header
 * block's bytes, and both sides keep the deadline on a coarse wheel. The deadline is still
 * enforced on both sides, when it passes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type Msg, type NatsConnection } from "nats";
import { ClientError, Status, createClient, createServer, type NatsServer } from "../../src/index.js";
import { FindNodeRequest, ISLBDefinition } from "../../generated/islb/islb.js";
import { PLAIN_REQUEST } from "../../src/metadata.js";
import { deadlineRequestHeaders, plainDeadlineMs } from "../../src/transport/deadline-headers.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { withUnimplemented } from "../helpers/services.js";

const enc = new TextEncoder();

describe("deadlines on the fast path", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let snc: NatsConnection;
  let server: NatsServer;
  /** What the slow handler saw: when its signal aborted (ms after it started), by sid. */
  const aborted = new Map<string, number>();
  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    snc = await connect({ servers: ns.url });
    server = createServer();
    server.add(
      ISLBDefinition,
      withUnimplemented(ISLBDefinition, {
        async findNode(req, ctx) {
          if (req.service === "slow") {
            const t0 = performance.now();
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 3000);
              ctx.signal.addEventListener("abort", () => {
                aborted.set(req.sid, performance.now() - t0);
                clearTimeout(timer);
                resolve();
              });
            });
          }
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

  async function receive(h: ReturnType<typeof headers>): Promise<Msg> {
    const got = new Promise<Msg>((resolve) => nc.subscribe("dl.raw", { max: 1, callback: (_e, m) => resolve(m) }));
    await nc.flush();
    nc.publish("dl.raw", enc.encode("x"), { headers: h });
    return got;
  }

  test("the server reads grpc-timeout from the header block the client sends, and only from exactly that block", async () => {
    assert.equal(plainDeadlineMs(await receive(deadlineRequestHeaders("5000m"))), 5000);
    assert.equal(plainDeadlineMs(await receive(deadlineRequestHeaders("250u"))), 0.25);
    assert.equal(plainDeadlineMs(await receive(deadlineRequestHeaders("2S"))), 2000);
    assert.equal(plainDeadlineMs(await receive(deadlineRequestHeaders("99999999H"))), 99_999_999 * 3_600_000);
    assert.equal(deadlineRequestHeaders("5000m"), deadlineRequestHeaders("5000m"), "encoded once per value");
    for (const bad of ["123456789m", "5000x", "", "5 m", "m"])
      assert.equal(plainDeadlineMs(await receive(deadlineRequestHeaders(bad))), undefined, JSON.stringify(bad));
    assert.equal(plainDeadlineMs(await receive(PLAIN_REQUEST)), undefined);
    const more = headers();
    more.set("content-type", "application/grpc+proto");
    more.set("grpc-timeout", "5000m");
    more.set("x-user", "1");
    assert.equal(plainDeadlineMs(await receive(more)), undefined, "other metadata: the general path");
    assert.equal(plainDeadlineMs({}), undefined);
  });

  test("a deadline read on the fast path is enforced by the server when it passes (DEADLINE_EXCEEDED, the handler's signal aborted)", async () => {
    const t0 = performance.now();
    const req = FindNodeRequest.encode(FindNodeRequest.fromPartial({ service: "slow", sid: "raw-300" })).finish();
    const reply = await nc.request("nrpc.islb.ISLB.FindNode", req, {
      headers: deadlineRequestHeaders("300m"),
      timeout: 5000,
    });
    const took = performance.now() - t0;
    assert.equal(Number(reply.headers?.get("grpc-status")), Status.DEADLINE_EXCEEDED);
    assert.ok(took >= 295 && took < 2000, `answered after ${took.toFixed(0)} ms`);
    const at = aborted.get("raw-300");
    assert.ok(at !== undefined && at >= 290, `the handler's signal aborted at ${at} ms`);
  });

  test("a malformed grpc-timeout still gets INVALID_ARGUMENT from the general path", async () => {
    const req = FindNodeRequest.encode(FindNodeRequest.fromPartial({ service: "rtc", sid: "x" })).finish();
    const reply = await nc.request("nrpc.islb.ISLB.FindNode", req, {
      headers: deadlineRequestHeaders("5000x"),
      timeout: 2000,
    });
    assert.equal(Number(reply.headers?.get("grpc-status")), Status.INVALID_ARGUMENT);
  });

  test("the typed client's deadline, a number or a Date, fails the call when it passes; calls that answer first are served", async () => {
    const c = createClient(ISLBDefinition, nc);
    for (const deadline of [250, () => new Date(Date.now() + 250)]) {
      const t0 = performance.now();
      await assert.rejects(
        c.findNode(
          { service: "slow", sid: "typed" },
          { deadline: typeof deadline === "number" ? deadline : deadline() },
        ),
        (e) => e instanceof ClientError && e.code === Status.DEADLINE_EXCEEDED,
      );
      const took = performance.now() - t0;
      assert.ok(took >= 240 && took < 1500, `failed after ${took.toFixed(0)} ms`);
    }
    const many = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.findNode({ service: "rtc", sid: `d${i}` }, { deadline: 5000 })),
    );
    many.forEach((r, i) => assert.equal(r.nodes[0]?.nid, `d${i}`));
  });
});
