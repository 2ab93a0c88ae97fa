/**
 * Our client in nats-grpc compat mode against the bytes a Go nats-grpc server sent: a stand-in
 * server answers each call with the server frames of a capture, and the client must read them
 * as the Go client did (unary with header and trailer metadata, server streaming, an error).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { ClientError, Metadata, Status, createClient } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { decodeRequest } from "../../src/wire/frames.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { collect } from "../helpers/setup.js";
import { natsGrpcScenarios, unhex, type Scenario } from "../helpers/vectors.js";

let ns: NatsServerProcess;
let nc: NatsConnection;
const scenarios = natsGrpcScenarios();
const find = (cmd: string): Scenario => scenarios.find((s) => s.command.includes(cmd)) as Scenario;

/** Answers calls on `subject` with the server frames of `s`, once the client has sent its request (a Data frame). */
function goServer(subject: string, s: Scenario): () => void {
  const answered = new Set<string>();
  const sub = nc.subscribe(subject, {
    callback: (_e, m) => {
      const f = decodeRequest(m.data);
      if (f.data === undefined || m.reply === undefined || answered.has(m.reply)) return;
      answered.add(m.reply);
      for (const frame of s.frames.filter((x) => x.dir === "server->client")) nc.publish(m.reply, unhex(frame.hex));
    },
  });
  return () => sub.unsubscribe();
}

before(async () => {
  ns = await startNatsServer();
  nc = await connect({ servers: ns.url });
});
after(async () => {
  await nc.close();
  await ns.stop();
});

test("unary with metadata: the reply, and header and trailer from Begin and End", async () => {
  const stop = goServer("nrpc.t1.interop.test.Test.Hello", find("-call hello"));
  try {
    const client = createClient(TestDefinition, nc, { wire: "nats-grpc", nid: "t1" });
    const seen: { header?: Metadata; trailer?: Metadata } = {};
    const md = Metadata();
    md.append("a", "1");
    md.append("a", "2");
    const r = await client.hello(
      { i: 4, msg: "hi" },
      { metadata: md, onHeader: (h) => (seen.header = h), onTrailer: (t) => (seen.trailer = t) },
    );
    assert.deepEqual(r, { i: 5, msg: "hi world" });
    assert.deepEqual(seen.header?.getAll("h-a"), ["1", "2"]);
    assert.deepEqual(seen.trailer?.getAll("t-a"), ["1", "2"]);
  } finally {
    stop();
  }
});

test("server streaming: every message, then the end", async () => {
  const stop = goServer("nrpc.t1.interop.test.Test.Count", find('Count [{"call":{"method":"/interop'));
  try {
    const client = createClient(TestDefinition, nc, { wire: "nats-grpc", nid: "t1" });
    const rs = await collect(client.count({ n: 3, prefix: "c" }));
    assert.deepEqual(
      rs.map((r) => r.msg),
      ["c-1", "c-2", "c-3"],
    );
  } finally {
    stop();
  }
});

test("a stream that fails part way: the messages before, then the status", async () => {
  const stop = goServer("nrpc.t1.interop.test.Test.Count", find('Count [{"call":{"method":"x"}},{"data":"0805'));
  try {
    const client = createClient(TestDefinition, nc, { wire: "nats-grpc", nid: "t1" });
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const r of client.count({ n: 5, prefix: "c", failAt: 3, failCode: 9 })) got.push(r.msg);
      })(),
      (e: unknown) =>
        e instanceof ClientError && e.code === Status.FAILED_PRECONDITION && e.details === "count failed at 3",
    );
    assert.deepEqual(got, ["c-1", "c-2"]);
  } finally {
    stop();
  }
});

test("unary errors and FindNode from the Go islb stub", async () => {
  const stopErr = goServer("nrpc.islb-node-1.islb.ISLB.FindNode", find("-sid error"));
  try {
    const islb = createClient(ISLBDefinition, nc, { wire: "nats-grpc", nid: "islb-node-1" });
    await assert.rejects(
      islb.findNode({ service: "rtc", sid: "error" }),
      (e: unknown) => e instanceof ClientError && e.code === Status.NOT_FOUND && e.details === "no nodes for sid error",
    );
  } finally {
    stopErr();
  }
  const stop = goServer("nrpc.islb-node-1.islb.ISLB.FindNode", find("-sid room1"));
  try {
    const islb = createClient(ISLBDefinition, nc, { wire: "nats-grpc", nid: "islb-node-1" });
    const r = await islb.findNode({ service: "rtc", sid: "room1", nid: "sfu-x" });
    assert.deepEqual(
      r.nodes.map((n) => [n.nid, n.rpc?.params.get("region") ?? ""]),
      [
        ["sfu-1", "eu"],
        ["sfu-2", ""],
      ],
    );
  } finally {
    stop();
  }
});
