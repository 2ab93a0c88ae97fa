/**
 * docs/nats-server.conf, run by a real nats-server (issue 9, item 2): each act the sample
 * forbids is refused by the server (a permissions violation), and the flows it allows work
 * end to end: islb serves, nodes register and heartbeat and serve their own services, a client
 * finds a node, watches, and calls the node directly.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import { createClient, createServer, type NatsServer, type ServiceDefinition } from "../../src/index.js";
import { NodeAgent } from "../../src/agent/agent.js";
import type { Running } from "../../src/cli/serve.js";
import { ISLBDefinition, WatchEvent_Type } from "../../generated/islb/islb.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { freePort, startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { startIslb } from "../helpers/islb.js";
import { interopService } from "../helpers/services.js";

const CONF = fileURLToPath(new URL("../../../docs/nats-server.conf", import.meta.url));

/** ion's rtc.RTC as a node serves it in the sample (the methods of the interop test service). */
const RTCDefinition = { ...TestDefinition, name: "RTC", fullName: "rtc.RTC" } as const satisfies ServiceDefinition;

const PASSWORDS: Record<string, string> = {
  islb: "change-me-islb",
  "sfu-1": "change-me-sfu-1",
  "sfu-2": "change-me-sfu-2",
  signal: "change-me-signal",
};

/** What the server said to a connection about permissions, as nats.js reports it. */
function violations(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      const ctx = (s as { permissionContext?: { operation: string; subject: string } }).permissionContext;
      if (s.type === "error" && ctx !== undefined) seen.push(`${s.data} ${ctx.operation} ${ctx.subject}`);
    }
  })();
  return seen;
}

describe("the sample NATS permissions (docs/nats-server.conf)", () => {
  let ns: NatsServerProcess;
  let dir: string;
  let url: string;
  let islb: Running;
  const conns: NatsConnection[] = [];
  const as = async (user: string): Promise<NatsConnection> => {
    const nc = await connect({
      servers: url,
      user,
      pass: PASSWORDS[user],
      inboxPrefix: `_INBOX.${user}`,
      reconnect: false,
    });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "islb-perms-"));
    const port = await freePort();
    const conf = readFileSync(CONF, "utf8").replace(/^port: 4222$/m, `port: ${port}`);
    assert.notEqual(conf, readFileSync(CONF, "utf8"), "the sample sets its port");
    writeFileSync(join(dir, "nats.conf"), conf);
    ns = await startNatsServer({ port, args: ["-c", join(dir, "nats.conf")] });
    url = ns.url;
    islb = await startIslb({ url, user: "islb", pass: PASSWORDS.islb, inboxPrefix: "_INBOX.islb" }, { nid: "islb-1" });
  });
  after(async () => {
    for (const nc of conns) if (!nc.isClosed()) await nc.close();
    await islb.close();
    await ns.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Subscribing is refused: the subscription ends with a permissions error. */
  async function subscribeRefused(nc: NatsConnection, subject: string, queue?: string): Promise<void> {
    let refused: unknown;
    nc.subscribe(subject, {
      ...(queue === undefined ? {} : { queue }),
      callback: (err) => void (err !== null ? (refused = err) : undefined),
    });
    await nc.flush();
    for (let i = 0; i < 200 && refused === undefined; i++) await sleep(10);
    assert.match(
      String((refused as Error | undefined)?.message),
      /permissions violation/i,
      `subscribe ${subject}${queue ? ` (queue ${queue})` : ""}`,
    );
  }

  /** Publishing is refused: the server reports a permissions violation for it. */
  async function publishRefused(nc: NatsConnection, seen: string[], subject: string): Promise<void> {
    const before = seen.length;
    nc.publish(subject, new Uint8Array([1]));
    await nc.flush();
    const found = (): boolean => seen.slice(before).some((v) => v.endsWith(`publish ${subject}`));
    for (let i = 0; i < 200 && !found(); i++) await sleep(10);
    assert.ok(found(), `publish ${subject}: ${JSON.stringify(seen.slice(before))}`);
  }

  test("a node cannot listen to other nodes' or islb's subjects, nor read another node's registration", async () => {
    const sfu2 = await as("sfu-2");
    await subscribeRefused(sfu2, "nrpc.>");
    await subscribeRefused(sfu2, "nrpc.sfu-1.>", "nrpc.sfu-1");
    await subscribeRefused(sfu2, "nrpc.islb.ISLB.*", "islb.ISLB");
    await subscribeRefused(sfu2, "nrpc.islb.ISLB.Register");
    await subscribeRefused(sfu2, "nrpc.islb-1.>", "nrpc.islb-1");
    // sfu-1's Register reply (its owner token) goes to sfu-1's inbox
    await subscribeRefused(sfu2, "_INBOX.sfu-1.>");
    await subscribeRefused(sfu2, "_INBOX.>");
    const seen = violations(sfu2);
    await publishRefused(sfu2, seen, "nrpc.islb.ISLB.FindNode");
    await publishRefused(sfu2, seen, "_INBOX.signal.x.y");
    await publishRefused(sfu2, seen, "node.discovery.rtc.dc1.sfu-1");
  });

  test("a client cannot publish into another's inbox, register, or listen beyond its own inbox", async () => {
    const signal = await as("signal");
    await subscribeRefused(signal, "nrpc.>");
    await subscribeRefused(signal, "_INBOX.sfu-1.>");
    await subscribeRefused(signal, "nrpc.islb.ISLB.FindNode", "islb.ISLB");
    const seen = violations(signal);
    await publishRefused(signal, seen, "_INBOX.sfu-1.abc.def");
    await publishRefused(signal, seen, "_INBOX.islb.abc.def");
    await publishRefused(signal, seen, "nrpc.islb.ISLB.Register");
    await publishRefused(signal, seen, "nrpc.islb.ISLB.Deregister");
    await publishRefused(signal, seen, "nrpc.sfu-1.islb.ISLB.Heartbeat");
  });

  test("the allowed flows work: register, heartbeat, FindNode, Watch, and a direct call to the node's own service", async () => {
    const sfu1 = await as("sfu-1");
    const node: NatsServer = createServer({ nid: "sfu-1" }).add(RTCDefinition, interopService);
    await node.listen(sfu1);
    const agent = new NodeAgent(sfu1, {
      registration: {
        node: { nid: "sfu-1", service: "rtc", dc: "dc1", rpc: { protocol: "nats-grpc", addr: url } },
        region: "eu",
      },
      leaseMs: 1500,
    });
    await agent.start();
    try {
      const signal = await as("signal");
      const seen = violations(signal);
      const islbClient = createClient(ISLBDefinition, signal);
      const found = await islbClient.findNode({ service: "rtc", sid: "room1" });
      assert.deepEqual(
        found.nodes.map((n) => n.nid),
        ["sfu-1"],
      );
      const events = islbClient.watch({ service: "rtc" })[Symbol.asyncIterator]();
      const first = await events.next();
      assert.equal(first.value?.node?.registration?.node?.nid, "sfu-1");
      assert.notEqual(first.value?.type, WatchEvent_Type.TYPE_UNSPECIFIED);
      await sleep(1200); // heartbeats go on under the node's permissions; the watch stays open past its keep-alive
      assert.ok(agent.heartbeats > 0, "the node heartbeats");
      await events.return?.();
      const rtc = createClient(RTCDefinition, signal, { nid: "sfu-1" });
      assert.deepEqual(await rtc.hello({ i: 1, msg: "hi" }), { i: 2, msg: "hi world" });
      const counted = [];
      for await (const r of rtc.count({ n: 3, prefix: "c" })) counted.push(r.msg);
      assert.deepEqual(counted, ["c-1", "c-2", "c-3"]);
      const chat = [];
      for await (const r of rtc.chat(
        (async function* () {
          yield { i: 1, msg: "a" };
          yield { i: 2, msg: "b" };
        })(),
      ))
        chat.push(r.msg);
      assert.deepEqual(chat, ["a!", "b!"]);
      assert.deepEqual(seen, [], "no permissions violation on the allowed flows");
    } finally {
      await agent.stop();
      await node.close();
    }
  });
});
