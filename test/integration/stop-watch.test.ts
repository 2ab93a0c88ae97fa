/**
 * An islb instance that stops ends its Watch streams at once, UNAVAILABLE with the revision to
 * resume from, so a watcher moves to another instance and the stop does not wait out its drain;
 * a server's last frames reach their clients before its connection drains.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "nats";
import { ClientError, Status, createClient, createServer } from "../../src/index.js";
import { ISLBDefinition, WatchEvent_Type } from "../../generated/islb/islb.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startIslb } from "../helpers/islb.js";
import { interopService } from "../helpers/services.js";

test("a stopping islb ends its Watch streams at once, UNAVAILABLE with the revision to resume from, and a second instance takes the resume", async () => {
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  const a = await startIslb(ns.url, { nid: "islb-stop-a", drainMs: 5000 });
  const b = await startIslb(ns.url, { nid: "islb-stop-b" });
  try {
    const client = createClient(ISLBDefinition, nc);
    const stream = client.watch({ service: "", fromRevision: 0 }, { nid: "islb-stop-a" });
    const it = stream[Symbol.asyncIterator]();
    let synced = false;
    while (!synced) synced = (await it.next()).value?.type === WatchEvent_Type.TYPE_SYNCED;
    const started = Date.now();
    const ended = it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    await a.close();
    const took = Date.now() - started;
    const err = await ended;
    assert.ok(err instanceof ClientError, String(err));
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.match(err.details, /stopping; resume from revision \d+/);
    assert.ok(took < 4000, `the stop did not wait out its 5 s drain for the watcher (${took} ms)`);
    // The resume, on the instance that stays.
    const again = client.watch({ service: "", fromRevision: 0 })[Symbol.asyncIterator]();
    assert.ok((await again.next()).value !== undefined);
    await again.return?.();
  } finally {
    await b.close();
    await nc.close();
    await ns.stop();
  }
});

test("a server stream still running when the drain ends gets its End UNAVAILABLE before the connection drains", async () => {
  const ns = await startNatsServer();
  const snc = await connect({ servers: ns.url });
  const nc = await connect({ servers: ns.url });
  const server = createServer({ prefix: "lastframe", drainMs: 100 }).add(TestDefinition, {
    ...interopService,
    async *count(_req, ctx) {
      for (let i = 1; !ctx.signal.aborted; i++) {
        yield { i, msg: "" };
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  });
  await server.listen(snc);
  try {
    const client = createClient(TestDefinition, nc, { prefix: "lastframe" });
    const it = client.count({ n: 0 })[Symbol.asyncIterator]();
    await it.next();
    const ended = (async () => {
      try {
        for (;;) if ((await it.next()).done === true) return undefined;
      } catch (e) {
        return e;
      }
    })();
    await server.close();
    await snc.drain();
    const err = await ended;
    assert.ok(err instanceof ClientError, String(err));
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.match(err.details, /shutting down/);
  } finally {
    await nc.close();
    await ns.stop();
  }
});
