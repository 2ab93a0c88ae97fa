/**
 * The server's fast path for the common request (binary, no metadata) reads nats.js's raw
 * subject and header bytes. These tests pin that nats.js still keeps them where we read them
 * (a nats.js upgrade that moves them would make every request take the slow path, silently),
 * and that requests the fast path does not take are still served by the general one.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type Msg, type NatsConnection } from "nats";
import { ClientError, Status, createClient, createServer, type NatsServer } from "../../src/index.js";
import { FindNodeReply, ISLBDefinition } from "../../generated/islb/islb.js";
import { OK_PROTO, PLAIN_REQUEST, isPlainOk, isPlainRequest } from "../../src/metadata.js";
import { MethodTable } from "../../src/transport/method-table.js";
import { tokenAt } from "../../src/transport/mux.js";
import { headerBlockIs, rawSubject } from "../../src/wire/raw-msg.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";
import { withUnimplemented } from "../helpers/services.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("fast path for plain unary requests", () => {
  let ns: NatsServerProcess;
  let nc: NatsConnection;
  let snc: NatsConnection;
  let server: NatsServer;
  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    snc = await connect({ servers: ns.url });
    server = createServer({ nid: "fp1" });
    server.add(
      ISLBDefinition,
      withUnimplemented(ISLBDefinition, {
        async findNode(req) {
          // a reply that cannot be encoded at all (nodes is not a list), and one ts-proto coerces
          if (req.service === "broken") return { nodes: 42 } as never;
          if (req.service === "coerced") return { nodes: [{ dc: 7, nid: "n", service: "s" }] } as never;
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

  /** One message received on `subject` as nats.js hands it over. */
  async function receive(subject: string, data: Uint8Array, h?: ReturnType<typeof headers>): Promise<Msg> {
    const got = new Promise<Msg>((resolve) => {
      const sub = nc.subscribe(subject, { max: 1, callback: (_e, m) => resolve(m) });
      void sub;
    });
    await nc.flush();
    nc.publish(subject, data, { headers: h });
    return got;
  }

  test("nats.js keeps a message's subject and header block as raw bytes where the fast path reads them", async () => {
    const plain = await receive("raw.a.FindNode", enc.encode("x"), PLAIN_REQUEST);
    assert.equal(dec.decode(rawSubject(plain)), "raw.a.FindNode");
    assert.equal(isPlainRequest(plain), true);
    assert.equal(dec.decode(plain.data), "x", "the payload after the raw header block");
    const ok = await receive("raw.b", new Uint8Array(0), OK_PROTO);
    assert.equal(isPlainOk(ok), true);
    assert.equal(isPlainRequest(ok), false);
    const other = headers();
    other.set("content-type", "application/grpc+proto");
    other.set("x-user", "1");
    assert.equal(isPlainRequest(await receive("raw.c", enc.encode("x"), other)), false);
    const none = await receive("raw.d", enc.encode("x"));
    assert.equal(isPlainRequest(none), false);
    assert.equal(headerBlockIs(none, new Uint8Array(0)), false);
    assert.equal(rawSubject({}), undefined);
    assert.equal(headerBlockIs({ _msg: { hdr: 3 }, _rdata: "abc" }, enc.encode("abc")), false);
  });

  test("a method is found from the subject's bytes, and only an exact name matches", () => {
    const methods = [{ name: "FindNode" }, { name: "Find" }, { name: "Heartbeat" }] as never[];
    const t = new MethodTable(methods);
    const skip = "nrpc.islb.ISLB.".length;
    const find = (s: string) => (t.find(enc.encode(s), skip) as { name: string } | undefined)?.name;
    assert.equal(find("nrpc.islb.ISLB.FindNode"), "FindNode");
    assert.equal(find("nrpc.islb.ISLB.Find"), "Find");
    assert.equal(find("nrpc.islb.ISLB.Heartbeat"), "Heartbeat");
    assert.equal(find("nrpc.islb.ISLB.FindNodes"), undefined);
    assert.equal(find("nrpc.islb.ISLB.findNode"), undefined);
    assert.equal(find("nrpc.islb.ISLB."), undefined);
  });

  test("an inbox token is read back from the subject's bytes exactly as it was written", () => {
    const at = (s: string) => tokenAt(enc.encode(`_INBOX.abc.${s}`), "_INBOX.abc.".length);
    for (const n of [0, 1, 35, 36, 1295, 46_655, 2 ** 31, 36 ** 10 - 1]) assert.equal(at(n.toString(36)), n);
    for (const bad of ["", "00", "01", "A", "1-", "x.y", "zzzzzzzzzzz", " 1"])
      assert.equal(at(bad), -1, JSON.stringify(bad));
  });

  test("plain requests are served; a reply that cannot be encoded is an error and leaves the next reply whole", async () => {
    const c = createClient(ISLBDefinition, nc);
    const r = await c.findNode({ service: "rtc", sid: "s1" });
    assert.deepEqual(
      r.nodes.map((n) => [n.dc, n.nid, n.service]),
      [["dc1", "s1", "rtc"]],
    );
    await assert.rejects(
      c.findNode({ service: "broken" }),
      (e) => e instanceof ClientError && e.code === Status.UNKNOWN,
    );
    // coerced as ts-proto's writer always coerced a number into a string field
    assert.equal((await c.findNode({ service: "coerced" })).nodes[0]?.dc, "7");
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => c.findNode({ service: "rtc", sid: `s${i}` })));
    again.forEach((x, i) => assert.equal(x.nodes[0]?.nid, `s${i}`));
  });

  test("requests the fast path does not take (metadata, unknown method, JSON, by nid) are answered by the general path", async () => {
    const c = createClient(ISLBDefinition, nc);
    assert.equal((await c.findNode({ service: "rtc", sid: "m" }, { deadline: 5000 })).nodes[0]?.nid, "m");
    assert.equal((await c.findNode({ service: "rtc", sid: "n" }, { nid: "fp1" })).nodes[0]?.nid, "n");
    const h = headers();
    h.set("content-type", "application/grpc+proto");
    const unknown = await nc.request("nrpc.islb.ISLB.NoSuchMethod", new Uint8Array(0), { headers: h, timeout: 2000 });
    assert.equal(Number(unknown.headers?.get("grpc-status")), Status.UNIMPLEMENTED);
    const json = await nc.request("nrpc.islb.ISLB.FindNode", enc.encode('{"service":"rtc","sid":"j"}'), {
      timeout: 2000,
    });
    assert.equal((JSON.parse(dec.decode(json.data)) as { nodes: Array<{ nid: string }> }).nodes[0]?.nid, "j");
    const bin = await nc.request("nrpc.islb.ISLB.FindNode", new Uint8Array(0), {
      headers: PLAIN_REQUEST,
      timeout: 2000,
    });
    assert.deepEqual(FindNodeReply.decode(bin.data).nodes[0]?.service, "");
  });
});
