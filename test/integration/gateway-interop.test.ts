/**
 * gRPC's 14 interop cases from a stock @grpc/grpc-js client through the gateway to our test
 * services on the bus: with method kinds known (micro discovery; unary calls in one NATS
 * request) and unknown (every call carried as a stream).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { abortedCalls, startedCalls } from "../helpers/services.js";
import { eventually } from "../helpers/setup.js";
import { isGrpcStatus, readAll, startGateway, testClients, unary, type GatewayEnv } from "./gateway-env.js";

const SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

interface Payload {
  payload?: { body: Buffer };
}

for (const micro of [true, false]) {
  describe(`interop cases through the gateway (kinds ${micro ? "known: unary in one request" : "unknown: all streams"})`, () => {
    let g: GatewayEnv;
    let test_: ReturnType<typeof testClients>["test"];
    let unimplemented: ReturnType<typeof testClients>["unimplemented"];
    before(async () => {
      g = await startGateway({ micro });
      ({ test: test_, unimplemented } = testClients(g.address));
    });
    after(async () => {
      test_.close();
      unimplemented.close();
      await g.close();
    });

    test("empty_unary", async () => {
      const before = { ...g.gateway.stats };
      const r = await unary(test_, "emptyCall", {});
      assert.deepEqual(r.value, {});
      // The fast path is taken exactly when the kind is known.
      if (micro) assert.equal(g.gateway.stats.unary, before.unary + 1);
      else assert.equal(g.gateway.stats.stream, before.stream + 1);
    });

    test("large_unary", async () => {
      const r = await unary<Payload>(test_, "unaryCall", {
        responseSize: 314_159,
        payload: { body: Buffer.alloc(271_828) },
      });
      assert.equal(r.value.payload?.body.length, 314_159);
    });

    test("client_streaming", async () => {
      const sizes = [27_182, 8, 1_828, 45_904];
      const r = await new Promise<{ aggregatedPayloadSize: number }>((resolve, reject) => {
        const call = test_.streamingInputCall!((e: grpc.ServiceError | null, v: { aggregatedPayloadSize: number }) =>
          e ? reject(e) : resolve(v),
        ) as grpc.ClientWritableStream<unknown>;
        for (const n of sizes) call.write({ payload: { body: Buffer.alloc(n) } });
        call.end();
      });
      assert.equal(r.aggregatedPayloadSize, 74_922);
    });

    test("server_streaming", async () => {
      const sizes = [31_415, 9, 2_653, 58_979];
      const { values } = await readAll<Payload>(
        test_.streamingOutputCall!({ responseParameters: sizes.map((size) => ({ size, intervalUs: 0 })) }),
      );
      assert.deepEqual(
        values.map((v) => v.payload?.body.length),
        sizes,
      );
    });

    test("ping_pong", async () => {
      const req = [27_182, 8, 1_828, 45_904];
      const res = [31_415, 9, 2_653, 58_979];
      const call = test_.fullDuplexCall!() as grpc.ClientDuplexStream<unknown, Payload>;
      const got: number[] = [];
      for (let i = 0; i < 4; i++) {
        const next = new Promise<Payload>((resolve) => call.once("data", resolve));
        call.write({
          responseParameters: [{ size: res[i], intervalUs: 0 }],
          payload: { body: Buffer.alloc(req[i] as number) },
        });
        got.push((await next).payload?.body.length ?? -1);
      }
      const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      call.end();
      assert.equal((await status).code, grpc.status.OK);
      assert.deepEqual(got, res);
    });

    test("empty_stream", async () => {
      const call = test_.fullDuplexCall!() as grpc.ClientDuplexStream<unknown, Payload>;
      const all = readAll(call);
      call.end();
      assert.deepEqual((await all).values, []);
    });

    test("cancel_after_begin", async () => {
      const before = abortedCalls.filter((p) => p === "StreamingInputCall").length;
      const started = startedCalls.filter((p) => p === "StreamingInputCall").length;
      const p = new Promise((resolve, reject) => {
        const call = test_.streamingInputCall!((e: grpc.ServiceError | null, v: unknown) =>
          e ? reject(e) : resolve(v),
        ) as grpc.ClientWritableStream<unknown>;
        // Cancelled once the server's handler has the call (at least 100 ms after it began): on a
        // loaded machine the call may take longer than that to reach the server.
        setTimeout(
          () =>
            void eventually(() => startedCalls.filter((x) => x === "StreamingInputCall").length > started, 5000).then(
              () => call.cancel(),
            ),
          100,
        );
      });
      await assert.rejects(p, isGrpcStatus(grpc.status.CANCELLED));
      // The reset (RST_STREAM) must reach the handler as a cancel, never as a half-close that
      // would let the call complete.
      assert.ok(
        await eventually(() => abortedCalls.filter((p) => p === "StreamingInputCall").length > before, 8000),
        "the cancellation reached the server's handler",
      );
    });

    test("cancel_after_first_response", async () => {
      const before = abortedCalls.filter((p) => p === "FullDuplexCall").length;
      const call = test_.fullDuplexCall!() as grpc.ClientDuplexStream<unknown, Payload>;
      const errored = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
      const first = new Promise<Payload>((resolve) => call.once("data", resolve));
      call.write({ responseParameters: [{ size: 31_415, intervalUs: 0 }], payload: { body: Buffer.alloc(27_182) } });
      assert.equal((await first).payload?.body.length, 31_415);
      call.cancel();
      assert.equal((await errored).code, grpc.status.CANCELLED);
      assert.ok(
        await eventually(() => abortedCalls.filter((p) => p === "FullDuplexCall").length > before),
        "the cancellation reached the server's handler",
      );
    });

    test("timeout_on_sleeping_server", async () => {
      const before = abortedCalls.filter((p) => p === "FullDuplexCall").length;
      const call = test_.fullDuplexCall!(new grpc.Metadata(), {
        deadline: new Date(Date.now() + 100),
      }) as grpc.ClientDuplexStream<unknown, Payload>;
      call.write({ responseParameters: [{ size: 1, intervalUs: 2_000_000 }], payload: { body: Buffer.alloc(27_182) } });
      await assert.rejects(readAll(call), isGrpcStatus(grpc.status.DEADLINE_EXCEEDED));
      assert.ok(
        await eventually(() => abortedCalls.filter((p) => p === "FullDuplexCall").length > before),
        "the deadline reached the server's handler",
      );
      await assert.rejects(
        unary(test_, "unaryCall", { responseSize: 1 }, new grpc.Metadata(), { deadline: new Date(Date.now() + 1) }),
        isGrpcStatus(grpc.status.DEADLINE_EXCEEDED),
      );
    });

    test("custom_metadata", async () => {
      const md = new grpc.Metadata();
      md.set("x-grpc-test-echo-initial", "test_initial_metadata_value");
      md.set("x-grpc-test-echo-trailing-bin", Buffer.from([0xab, 0xab, 0xab]));
      const check = (h?: grpc.Metadata, t?: grpc.Metadata): void => {
        assert.deepEqual(h?.get("x-grpc-test-echo-initial"), ["test_initial_metadata_value"]);
        assert.deepEqual(t?.get("x-grpc-test-echo-trailing-bin"), [Buffer.from([0xab, 0xab, 0xab])]);
      };
      const r = await unary<Payload>(
        test_,
        "unaryCall",
        { responseSize: 314_159, payload: { body: Buffer.alloc(271_828) } },
        md,
      );
      assert.equal(r.value.payload?.body.length, 314_159);
      check(r.header, r.trailer);
      const call = test_.fullDuplexCall!(md) as grpc.ClientDuplexStream<unknown, Payload>;
      const all = readAll(call);
      call.write({ responseParameters: [{ size: 314_159, intervalUs: 0 }], payload: { body: Buffer.alloc(271_828) } });
      call.end();
      const s = await all;
      assert.equal(s.values.length, 1);
      check(s.header, s.trailer);
    });

    test("status_code_and_message", async () => {
      const responseStatus = { code: 2, message: "test status message" };
      await assert.rejects(
        unary(test_, "unaryCall", { responseStatus }),
        isGrpcStatus(grpc.status.UNKNOWN, "test status message"),
      );
      const call = test_.fullDuplexCall!() as grpc.ClientDuplexStream<unknown, Payload>;
      const all = readAll(call);
      call.write({ responseParameters: [], responseStatus });
      call.end();
      await assert.rejects(all, isGrpcStatus(grpc.status.UNKNOWN, "test status message"));
    });

    test("special_status_message", async () => {
      await assert.rejects(
        unary(test_, "unaryCall", { responseStatus: { code: 2, message: SPECIAL } }),
        isGrpcStatus(grpc.status.UNKNOWN, SPECIAL),
      );
    });

    test("unimplemented_method", async () => {
      await assert.rejects(unary(test_, "unimplementedCall", {}), isGrpcStatus(grpc.status.UNIMPLEMENTED));
    });

    test("unimplemented_service", async () => {
      const md = new grpc.Metadata();
      md.set("islb-nid", "t1");
      await assert.rejects(unary(unimplemented, "unimplementedCall", {}, md), isGrpcStatus(grpc.status.UNIMPLEMENTED));
      // Addressed to any instance, nobody serves it: UNAVAILABLE, at once.
      const t0 = Date.now();
      await assert.rejects(unary(unimplemented, "unimplementedCall", {}), isGrpcStatus(grpc.status.UNAVAILABLE));
      assert.ok(Date.now() - t0 < 1000, `UNAVAILABLE after ${Date.now() - t0} ms`);
    });
  });
}
