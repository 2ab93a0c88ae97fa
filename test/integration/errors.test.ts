/** Bad input gets the right status, loses nothing, and never takes the server down. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { headers, type Msg } from "nats";
import { ClientError, Metadata, Status, createClient, createServer } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { TestServiceDefinition } from "../../generated/testing/test.js";
import { decodeResponse, encodeRequest } from "../../src/wire/frames.js";
import { startEnv, type Env } from "../helpers/setup.js";

const enc = new TextEncoder();
const statusOf = (m: Msg): number => Number(m.headers?.get("grpc-status"));
const isStatus = (code: Status) => (e: unknown) => e instanceof ClientError && e.code === code;

describe("errors and bad input", () => {
  let env: Env;
  before(async () => {
    env = await startEnv({ maxMessageBytes: 64 * 1024 });
  });
  after(() => env.close());
  const req = (subject: string, data: Uint8Array | string, h?: Record<string, string>) => {
    const hs = h === undefined ? undefined : headers();
    for (const [k, v] of Object.entries(h ?? {})) hs?.set(k, v);
    return env.nc.request(subject, typeof data === "string" ? enc.encode(data) : data, { timeout: 2000, headers: hs });
  };
  const HELLO = "nrpc.interop.test.Test.Hello";

  test("binary bytes that do not decode: INTERNAL", async () => {
    const m = await req(HELLO, new Uint8Array([0x0a, 0xff, 0xff]), { "content-type": "application/grpc+proto" });
    assert.equal(statusOf(m), Status.INTERNAL);
    assert.match(m.headers?.get("grpc-message") ?? "", /cannot decode/);
  });

  test("a header-less payload that is neither JSON nor a frame: an INTERNAL End frame", async () => {
    const m = await req(HELLO, new Uint8Array([0x12, 0xff, 0xff, 0xff]));
    assert.equal(decodeResponse(m.data).end?.status?.code, Status.INTERNAL);
  });

  test("malformed JSON and non-object JSON: INVALID_ARGUMENT, with the status as a JSON body", async () => {
    for (const [body, h] of [
      ['{"i":', undefined],
      ["[1,2]", undefined],
      ["[1,2]", { "content-type": "application/json" }],
      ['{"i": 1} trailing', undefined],
    ] as const) {
      // A header-less "[" is JSON too (no frame begins with it): refused as not an object.
      const m = await req(HELLO, body, h);
      assert.equal(statusOf(m), Status.INVALID_ARGUMENT, body);
      const j = JSON.parse(new TextDecoder().decode(m.data));
      assert.equal(j.code, Status.INVALID_ARGUMENT);
      assert.equal(j.status, "INVALID_ARGUMENT");
      assert.ok(j.message.length > 0);
    }
  });

  test("JSON in, JSON out, with proto3 names", async () => {
    const m = await req(HELLO, '{"i": 4, "msg": "hi"}');
    assert.equal(statusOf(m), Status.OK);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(m.data)), { i: 5, msg: "hi world" });
  });

  test("unknown method and unsupported content type", async () => {
    const m = await req("nrpc.interop.test.Test.Nope", "{}");
    assert.equal(statusOf(m), Status.UNIMPLEMENTED);
    assert.match(m.headers?.get("grpc-message") ?? "", /Nope.*Hello/);
    const c = await req(HELLO, "x", { "content-type": "text/plain" });
    assert.equal(statusOf(c), Status.INVALID_ARGUMENT);
  });

  test("a streaming method called with one request: INVALID_ARGUMENT saying why", async () => {
    const m = await req("nrpc.interop.test.Test.Count", '{"n": 2}');
    assert.equal(statusOf(m), Status.INVALID_ARGUMENT);
    assert.match(m.headers?.get("grpc-message") ?? "", /streaming/);
  });

  test("messages over the size limit: RESOURCE_EXHAUSTED on both sides", async () => {
    const m = await req("nrpc.grpc.testing.TestService.UnaryCall", new Uint8Array(70 * 1024), {
      "content-type": "application/grpc+proto",
    });
    assert.equal(statusOf(m), Status.RESOURCE_EXHAUSTED);
    const client = createClient(TestServiceDefinition, env.nc);
    await assert.rejects(client.unaryCall({ responseSize: 100 * 1024 }), isStatus(Status.RESOURCE_EXHAUSTED));
    const small = createClient(TestServiceDefinition, env.nc, { maxMessageBytes: 1000 });
    await assert.rejects(
      small.unaryCall({ payload: { body: Buffer.alloc(2000) } }),
      isStatus(Status.RESOURCE_EXHAUSTED),
    );
    // and the server still serves
    assert.equal((await client.unaryCall({ responseSize: 10 })).payload?.body.length, 10);
  });

  test("grpc-timeout sets the deadline the handler sees; a malformed one is INVALID_ARGUMENT", async () => {
    const t0 = Date.now();
    const m = await req("nrpc.grpc.testing.TestService.StreamingOutputCall", "{}", { "grpc-timeout": "100m" });
    assert.equal(statusOf(m), Status.INVALID_ARGUMENT); // streaming method, checked first
    const server = createServer({ prefix: "sleepy" });
    let aborted = false;
    server.add(TestDefinition, {
      async hello(_r: unknown, ctx: { signal: AbortSignal }) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        aborted = true;
        return { i: 0, msg: "" };
      },
    } as never);
    await server.listen(env.snc);
    try {
      const t1 = Date.now();
      const s = await req("sleepy.interop.test.Test.Hello", "{}", { "grpc-timeout": "100m" });
      assert.equal(statusOf(s), Status.DEADLINE_EXCEEDED);
      assert.ok(Date.now() - t1 >= 90, "answered at the deadline, not before");
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(aborted, "the handler's signal was aborted at the deadline");
      void t0;
      const bad = await req(HELLO, "{}", { "grpc-timeout": "soon" });
      assert.equal(statusOf(bad), Status.INVALID_ARGUMENT);
      // A timeout of 0 has passed before the call began (as in gRPC): the handler does not run.
      const none = await req(HELLO, "{}", { "grpc-timeout": "0n" });
      assert.equal(statusOf(none), Status.DEADLINE_EXCEEDED);
    } finally {
      await server.close();
    }
  });

  test("handler exceptions: UNKNOWN with a generic message; status errors keep code and message; the server lives on", async () => {
    const client = createClient(TestDefinition, env.nc);
    await assert.rejects(
      client.fail({ panic: true }),
      (e: unknown) => e instanceof ClientError && e.code === Status.UNKNOWN && !e.details.includes("panicked"),
    );
    await assert.rejects(
      client.fail({ code: Status.PERMISSION_DENIED, message: "no" }),
      (e: unknown) => e instanceof ClientError && e.code === Status.PERMISSION_DENIED && e.details === "no",
    );
    assert.equal((await client.hello({ i: 1 })).i, 2);
  });

  test("__proto__ in metadata reaches no prototype and arrives as plain metadata", async () => {
    const call = encodeRequest({
      call: {
        method: "x",
        metadata: { md: new Map([["__proto__", { values: ["polluted"] }]]) },
        nid: "",
        native: undefined,
      },
    } as never);
    const inbox = `_INBOX.proto${Date.now()}`;
    const got: Uint8Array[] = [];
    const sub = env.nc.subscribe(inbox, { callback: (_e, m) => got.push(m.data) });
    env.nc.publish("nrpc.t1.interop.test.Test.Hello", call, { reply: inbox });
    env.nc.publish(
      "nrpc.t1.interop.test.Test.Hello",
      encodeRequest({ data: { data: Buffer.from([0x08, 0x01]) } } as never),
      { reply: inbox },
    );
    await env.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    sub.unsubscribe();
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "values"), false);
    const begin = decodeResponse(got[0] as Uint8Array).begin;
    assert.deepEqual(begin?.header?.md.get("h-__proto__")?.values, ["polluted"]);
    const md = Metadata({ a: "1" });
    md.append("__proto__", "x");
    assert.equal(md.get("__proto__"), "x");
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test("ids that would break a subject are refused before anything is sent", async () => {
    const client = createClient(TestDefinition, env.nc);
    for (const nid of ["a.b", "a*", ">", "a b"]) {
      await assert.rejects(client.hello({}, { nid }), isStatus(Status.INVALID_ARGUMENT), nid);
    }
    assert.throws(() => createServer({ nid: "bad.nid" }));
  });
});
