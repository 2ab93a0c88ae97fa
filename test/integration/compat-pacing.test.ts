/**
 * Our compat client paces the messages of a client stream (issue 9): a Go nats-grpc server
 * handles each frame on its own goroutine, so frames sent back to back reach its handler out
 * of order. Here a plain NATS subscriber stands in for the Go server and records when each
 * frame arrives; it answers as the Go server does once it sees the half-close.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { createClient } from "../../src/index.js";
import { decodeRequest, encodeResponse, encodeDataFrame, type Response } from "../../src/wire/frames.js";
import { CountReply, SumReply, TestDefinition } from "../../generated/testing/interop.js";
import { items } from "../helpers/setup.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";

describe("compat client streams are paced for Go servers", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let go: NatsConnection;
  before(async () => {
    ns = await startNatsServer();
    [nc, go] = await Promise.all([connect({ servers: ns.url }), connect({ servers: ns.url })]);
  });
  after(async () => {
    await Promise.all([nc.close(), go.close()]);
    await ns.stop();
  });

  test("each message of a client stream leaves compatGapMs after the one before, and the half-close after the last", async () => {
    const arrivals: Array<{ kind: string; at: number; i?: number }> = [];
    go.subscribe("nrpc.interop.test.Test.Sum", {
      callback: (_e, m) => {
        const f = decodeRequest(m.data);
        const at = performance.now();
        if (f.call !== undefined) arrivals.push({ kind: "call", at });
        else if (f.data !== undefined) arrivals.push({ kind: "data", at, i: CountReply.decode(f.data.data).i });
        else if (f.end !== undefined) {
          arrivals.push({ kind: "end", at });
          const total = arrivals.filter((a) => a.kind === "data").length;
          go.publish(m.reply as string, encodeDataFrame(SumReply.encode({ total, count: total, msgs: [] }).finish()));
          go.publish(
            m.reply as string,
            encodeResponse({ end: { status: undefined, trailer: undefined } } as Partial<Response> as Response),
          );
        }
      },
    });
    await go.flush();
    // When the client hands each frame to NATS: the pacing is the sender's (arrival times also
    // carry the delivery's jitter, which on a loaded machine can bunch two frames up).
    const sent: number[] = [];
    const publish = nc.publish.bind(nc);
    nc.publish = (subject, data, opts) => {
      if (subject === "nrpc.interop.test.Test.Sum") sent.push(performance.now());
      publish(subject, data, opts);
    };
    const gap = 20;
    const client = createClient(TestDefinition, nc, { wire: "nats-grpc", compatGapMs: gap });
    try {
      const r = await client.sum(items([1, 2, 3, 4].map((i) => ({ i, msg: "" }))), { deadline: 5000 });
      assert.equal(r.count, 4);
    } finally {
      nc.publish = publish;
    }
    assert.deepEqual(
      arrivals.map((a) => a.kind),
      ["call", "data", "data", "data", "data", "end"],
    );
    assert.deepEqual(
      arrivals.filter((a) => a.kind === "data").map((a) => a.i),
      [1, 2, 3, 4],
    );
    assert.equal(sent.length, 6, "call, four messages, half-close");
    for (let k = 2; k < sent.length; k++) {
      const d = (sent[k] as number) - (sent[k - 1] as number);
      assert.ok(d >= gap * 0.9, `frame ${k} was sent ${d.toFixed(1)} ms after the one before`);
    }
  });
});
