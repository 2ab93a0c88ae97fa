/** Every frame captured from the Go nats-grpc library decodes with our types and re-encodes to the same bytes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  requestKind,
  responseKind,
} from "../../src/wire/frames.js";
import { hex, natsGrpcScenarios, unhex } from "../helpers/vectors.js";

const scenarios = natsGrpcScenarios();

test("the captures hold frames of both directions", () => {
  const all = scenarios.flatMap((s) => s.frames);
  assert.ok(all.filter((f) => f.dir === "client->server").length >= 30);
  assert.ok(all.filter((f) => f.dir === "server->client").length >= 15);
});

for (const [i, s] of scenarios.entries()) {
  test(`frames of scenario ${i} (${s.command.slice(0, 70)}) round-trip byte for byte`, () => {
    for (const f of s.frames) {
      const bytes = unhex(f.hex);
      const kind = (f.decoded[0]?.type as string).split(".")[1]?.toLowerCase();
      if (f.dir === "client->server") {
        const frame = decodeRequest(bytes);
        assert.equal(requestKind(frame), kind, `kind of ${f.hex}`);
        assert.equal(hex(encodeRequest(frame)), f.hex);
        if (frame.call !== undefined) assert.equal(frame.call.method, f.decoded[0]?.method);
      } else {
        const frame = decodeResponse(bytes);
        assert.equal(responseKind(frame), kind, `kind of ${f.hex}`);
        assert.equal(hex(encodeResponse(frame)), f.hex);
        const st = f.decoded[0]?.status as { code: number; message: string } | undefined;
        if (st !== undefined)
          assert.deepEqual({ code: frame.end?.status?.code, message: frame.end?.status?.message }, st);
      }
    }
  });
}
