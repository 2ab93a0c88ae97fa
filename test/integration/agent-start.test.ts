/** NodeAgent start-up against a real nats-server: no islb answering, an abort, background retries, a refusal. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { AgentStartError, createClient, ISLBDefinition, NodeAgent, Status } from "../../src/index.js";
import type { Running } from "../../src/cli/serve.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { eventually } from "../helpers/setup.js";
import { startIslb } from "../helpers/islb.js";

const registration = (nid: string) => ({ node: { nid, service: "rtc", dc: "dc1" } });

describe("NodeAgent.start", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    await nc.close();
    await ns.stop();
  });

  test("with no islb it rejects after timeoutMs with an error naming the subject, and stops", async () => {
    const agent = new NodeAgent(nc, { registration: registration("lonely-1"), retryMs: 50 });
    const t0 = Date.now();
    const err = await agent.start({ timeoutMs: 600 }).then(
      () => assert.fail("start resolved with no islb"),
      (e: unknown) => e,
    );
    const took = Date.now() - t0;
    assert.ok(err instanceof AgentStartError, String(err));
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.match(err.message, /no islb answered on nrpc\.islb\.ISLB\.Register within 600 ms/);
    assert.ok(took >= 550 && took < 4000, `took ${took} ms`);
    assert.equal(agent.registered, false);
    // It does not go on trying: an islb that starts now never hears of it.
    const islb = await startIslb(ns.url, { nid: "islb-late" });
    try {
      await new Promise((r) => setTimeout(r, 600));
      const { nodes } = await createClient(ISLBDefinition, nc).findNode({ nid: "lonely-1" }, { deadline: 2000 });
      assert.deepEqual(nodes, []);
    } finally {
      await islb.close();
    }
  });

  test("an abort signal ends the wait at once (CANCELLED), long before the timeout", async () => {
    const agent = new NodeAgent(nc, { registration: registration("aborted-1"), retryMs: 50 });
    const t0 = Date.now();
    const err = await agent.start({ signal: AbortSignal.timeout(200), timeoutMs: 30_000 }).then(
      () => assert.fail("start resolved with no islb"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AgentStartError, String(err));
    assert.equal(err.code, Status.CANCELLED);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  test("keepRetrying resolves unregistered, then registers in the background once an islb answers", async () => {
    const agent = new NodeAgent(nc, { registration: registration("patient-1"), retryMs: 50, leaseMs: 2000 });
    await agent.start({ timeoutMs: 300, keepRetrying: true });
    assert.equal(agent.registered, false);
    let islb: Running | undefined;
    try {
      islb = await startIslb(ns.url, { nid: "islb-bg" });
      assert.ok(await eventually(() => agent.registered, 8000), "never registered in the background");
      const { nodes } = await createClient(ISLBDefinition, nc).findNode({ nid: "patient-1" }, { deadline: 2000 });
      assert.deepEqual(
        nodes.map((n) => n.nid),
        ["patient-1"],
      );
      assert.ok(await eventually(() => agent.heartbeats > 0, 8000), "registered but never heartbeating");
    } finally {
      await agent.stop();
      await islb?.close();
    }
  });

  test("islb refusing the registration rejects at once, without waiting for the timeout", async () => {
    const islb = await startIslb(ns.url, { nid: "islb-strict", secrets: { rtc: "s3cret" } });
    try {
      const agent = new NodeAgent(nc, { registration: registration("intruder-1"), secret: "wrong" });
      const t0 = Date.now();
      const err = await agent.start({ timeoutMs: 20_000 }).then(
        () => assert.fail("a wrong secret registered"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof AgentStartError, String(err));
      assert.notEqual(err.code, Status.UNAVAILABLE);
      assert.match(err.message, /islb refused the registration of node intruder-1/);
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    } finally {
      await islb.close();
    }
  });
});
