/** gRPC's 14 interop cases, over NATS, on the native wire and on the nats-grpc compat wire. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { isAbortError } from "abort-controller-x";
import { ClientError, Metadata, Status, createClient } from "../../src/index.js";
import {
  TestServiceDefinition,
  UnimplementedServiceDefinition,
  type StreamingOutputCallRequest,
} from "../../generated/testing/test.js";
import { abortedCalls } from "../helpers/services.js";
import { collect, eventually, items, startEnv, type Env } from "../helpers/setup.js";

const isStatus = (code: Status, message?: string) => (e: unknown) => {
  assert.ok(e instanceof ClientError, `expected a ClientError, got ${String(e)}`);
  assert.equal(e.code, code, `expected ${Status[code]}, got ${Status[e.code]}: ${e.details}`);
  if (message !== undefined) assert.equal(e.details, message);
  return true;
};

const SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

for (const wire of ["native", "nats-grpc"] as const) {
  describe(`interop cases (${wire} wire)`, () => {
    let env: Env;
    let client: ReturnType<typeof createClient<typeof TestServiceDefinition>>;
    before(async () => {
      env = await startEnv();
      client = createClient(TestServiceDefinition, env.nc, { wire, compatGapMs: 5 });
    });
    after(() => env.close());

    test("empty_unary", async () => {
      assert.deepEqual(await client.emptyCall({}), {});
    });

    test("large_unary", async () => {
      const r = await client.unaryCall({ responseSize: 314_159, payload: { body: Buffer.alloc(271_828) } });
      assert.equal(r.payload?.body.length, 314_159);
    });

    test("client_streaming", async () => {
      const sizes = [27_182, 8, 1_828, 45_904];
      const r = await client.streamingInputCall(items(sizes.map((n) => ({ payload: { body: Buffer.alloc(n) } }))));
      assert.equal(r.aggregatedPayloadSize, 74_922);
    });

    test("server_streaming", async () => {
      const sizes = [31_415, 9, 2_653, 58_979];
      const rs = await collect(
        client.streamingOutputCall({ responseParameters: sizes.map((size) => ({ size, intervalUs: 0 })) }),
      );
      assert.deepEqual(
        rs.map((r) => r.payload?.body.length),
        sizes,
      );
    });

    test("ping_pong", async () => {
      const req = [27_182, 8, 1_828, 45_904];
      const res = [31_415, 9, 2_653, 58_979];
      let next: ((v: StreamingOutputCallRequest | undefined) => void) | undefined;
      async function* requests(): AsyncGenerator<StreamingOutputCallRequest> {
        for (;;) {
          const r = await new Promise<StreamingOutputCallRequest | undefined>((resolve) => (next = resolve));
          if (r === undefined) return;
          yield r;
        }
      }
      const it = client.fullDuplexCall(requests())[Symbol.asyncIterator]();
      for (let i = 0; i < 4; i++) {
        const pending = it.next(); // the call starts with the first read, as in nice-grpc
        assert.ok(await eventually(() => next !== undefined), "the client asks for the next request");
        const send = next as (v: StreamingOutputCallRequest | undefined) => void;
        next = undefined;
        send({
          responseParameters: [{ size: res[i] as number, intervalUs: 0 }],
          payload: { body: Buffer.alloc(req[i] as number) },
          responseStatus: undefined,
        });
        const r = await pending;
        assert.equal(r.done, false);
        assert.equal(r.value?.payload?.body.length, res[i]);
      }
      const last = it.next();
      assert.ok(await eventually(() => next !== undefined));
      next?.(undefined);
      assert.equal((await last).done, true);
    });

    test("empty_stream", async () => {
      assert.deepEqual(await collect(client.fullDuplexCall(items([]))), []);
    });

    test("cancel_after_begin", async () => {
      const ac = new AbortController();
      async function* never(): AsyncGenerator<never> {
        await new Promise(() => {});
      }
      const p = client.streamingInputCall(never(), { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await assert.rejects(p, (e: unknown) => isAbortError(e));
      if (wire === "native")
        assert.ok(
          await eventually(() => abortedCalls.includes("StreamingInputCall")),
          "the server handler saw the cancellation",
        );
    });

    test("cancel_after_first_response", async () => {
      const ac = new AbortController();
      async function* one(): AsyncGenerator<StreamingOutputCallRequest> {
        yield {
          responseParameters: [{ size: 31_415, intervalUs: 0 }],
          payload: { body: Buffer.alloc(27_182) },
          responseStatus: undefined,
        };
        await new Promise(() => {});
      }
      const before = abortedCalls.filter((p) => p === "FullDuplexCall").length;
      const it = client.fullDuplexCall(one(), { signal: ac.signal })[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.value?.payload?.body.length, 31_415);
      ac.abort();
      await assert.rejects(it.next(), (e: unknown) => isAbortError(e));
      assert.ok(
        await eventually(() => abortedCalls.filter((p) => p === "FullDuplexCall").length > before),
        "the server handler saw the cancellation",
      );
    });

    test("timeout_on_sleeping_server", async () => {
      async function* one(): AsyncGenerator<StreamingOutputCallRequest> {
        yield {
          responseParameters: [{ size: 1, intervalUs: 2_000_000 }],
          payload: { body: Buffer.alloc(27_182) },
          responseStatus: undefined,
        };
        await new Promise(() => {});
      }
      await assert.rejects(collect(client.fullDuplexCall(one(), { deadline: 50 })), isStatus(Status.DEADLINE_EXCEEDED));
      await assert.rejects(
        client.unaryCall({ responseSize: 1 }, { deadline: new Date(Date.now() - 1) }),
        isStatus(Status.DEADLINE_EXCEEDED),
      );
    });

    test("custom_metadata", async () => {
      const metadata = Metadata({
        "x-grpc-test-echo-initial": "test_initial_metadata_value",
        "x-grpc-test-echo-trailing-bin": new Uint8Array([0xab, 0xab, 0xab]),
      });
      const seen: { header?: Metadata; trailer?: Metadata } = {};
      const opts = {
        metadata,
        onHeader: (h: Metadata) => (seen.header = h),
        onTrailer: (t: Metadata) => (seen.trailer = t),
      };
      const check = () => {
        assert.equal(seen.header?.get("x-grpc-test-echo-initial"), "test_initial_metadata_value");
        assert.deepEqual([...(seen.trailer?.get("x-grpc-test-echo-trailing-bin") as Uint8Array)], [0xab, 0xab, 0xab]);
      };
      await client.unaryCall({ responseSize: 314_159, payload: { body: Buffer.alloc(271_828) } }, opts);
      check();
      delete seen.header;
      delete seen.trailer;
      const rs = await collect(
        client.fullDuplexCall(
          items([
            {
              responseParameters: [{ size: 314_159, intervalUs: 0 }],
              payload: { body: Buffer.alloc(271_828) },
              responseStatus: undefined,
            },
          ]),
          opts,
        ),
      );
      assert.equal(rs.length, 1);
      check();
    });

    test("status_code_and_message", async () => {
      const responseStatus = { code: 2, message: "test status message" };
      await assert.rejects(client.unaryCall({ responseStatus }), isStatus(Status.UNKNOWN, "test status message"));
      await assert.rejects(
        collect(client.fullDuplexCall(items([{ responseParameters: [], payload: undefined, responseStatus }]))),
        isStatus(Status.UNKNOWN, "test status message"),
      );
    });

    test("special_status_message", async () => {
      await assert.rejects(
        client.unaryCall({ responseStatus: { code: 2, message: SPECIAL } }),
        isStatus(Status.UNKNOWN, SPECIAL),
      );
    });

    test("unimplemented_method", async () => {
      await assert.rejects(client.unimplementedCall({}), isStatus(Status.UNIMPLEMENTED));
    });

    test("unimplemented_service", async () => {
      const other = createClient(UnimplementedServiceDefinition, env.nc, { wire, nid: "t1" });
      await assert.rejects(other.unimplementedCall({}), isStatus(Status.UNIMPLEMENTED));
      // Addressed to any instance, nobody serves it: NATS has no responders.
      const any = createClient(UnimplementedServiceDefinition, env.nc, { wire });
      await assert.rejects(any.unimplementedCall({}), isStatus(Status.UNAVAILABLE));
    });
  });
}
