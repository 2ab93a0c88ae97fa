/** Reflection without a server: the answers, and descriptors built from them that encode real messages. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { islbDescriptors } from "../../src/reflection/descriptors.js";
import { Reflection } from "../../src/reflection/reflection.js";
import { FindNodeRequest } from "../../generated/islb/islb.js";
import { Status } from "../../src/status.js";

const require = createRequire(import.meta.url);
const protobuf = require("protobufjs") as typeof import("protobufjs");
const descriptor = require("protobufjs/ext/descriptor") as {
  FileDescriptorProto: { decode(b: Uint8Array): unknown };
  FileDescriptorSet: unknown;
};

const index = islbDescriptors();
const reflection = new Reflection(index, () => ["islb.ISLB", "grpc.health.v1.Health"]);
const ask = (req: Record<string, unknown>) => reflection.answer({ host: "", ...req } as never);

test("lists the services served", () => {
  assert.deepEqual(
    ask({ listServices: "" }).listServicesResponse?.service.map((s) => s.name),
    ["grpc.health.v1.Health", "islb.ISLB"],
  );
});

test("finds the file of every kind of symbol, with its dependencies", () => {
  for (const sym of [
    "islb.ISLB",
    "islb.ISLB.FindNode",
    "islb.FindNodeRequest",
    "islb.FindNodeRequest.sid",
    "islb.NodeState",
    "islb.NODE_STATE_SERVING",
    "islb.WatchEvent.Type",
    ".islb.Load",
  ]) {
    const r = ask({ fileContainingSymbol: sym });
    assert.equal(r.errorResponse, undefined, sym);
    assert.equal(r.fileDescriptorResponse?.fileDescriptorProto.length, 2, `${sym}: islb.proto and ion.proto`);
  }
  const nrpc = ask({ fileByFilename: "nrpc/nrpc.proto" });
  assert.equal(nrpc.fileDescriptorResponse?.fileDescriptorProto.length, 2, "nrpc.proto and google/protobuf/any.proto");
});

test("unknown files and symbols are NOT_FOUND; an empty request INVALID_ARGUMENT", () => {
  assert.equal(ask({ fileContainingSymbol: "nope.Nothing" }).errorResponse?.errorCode, Status.NOT_FOUND);
  assert.equal(ask({ fileByFilename: "nope.proto" }).errorResponse?.errorCode, Status.NOT_FOUND);
  assert.equal(ask({ allExtensionNumbersOfType: "nope.T" }).errorResponse?.errorCode, Status.NOT_FOUND);
  assert.deepEqual(ask({ allExtensionNumbersOfType: "islb.Load" }).allExtensionNumbersResponse?.extensionNumber, []);
  assert.equal(ask({}).errorResponse?.errorCode, Status.INVALID_ARGUMENT);
});

test("descriptors built from the answer (protobufjs) encode a message our generated code decodes, and back", () => {
  const files = ask({ fileContainingSymbol: "islb.ISLB" }).fileDescriptorResponse?.fileDescriptorProto ?? [];
  const set = { file: files.map((b) => descriptor.FileDescriptorProto.decode(b)) };
  const root = (protobuf.Root as unknown as { fromDescriptor(s: unknown): import("protobufjs").Root }).fromDescriptor(
    set,
  );
  const T = root.lookupType("islb.FindNodeRequest");
  const bytes = T.encode(T.fromObject({ sid: "room1", service: "rtc", limit: 3 })).finish();
  assert.deepEqual(FindNodeRequest.decode(bytes), {
    sid: "room1",
    nid: "",
    service: "rtc",
    region: "",
    dc: "",
    limit: 3,
    explain: false,
    overflow: false,
    fullNid: "",
    maxNodes: 0,
  });
  const back = T.toObject(
    T.decode(
      FindNodeRequest.encode({
        sid: "s",
        nid: "n",
        service: "rtc",
        region: "eu",
        dc: "",
        limit: 0,
        explain: false,
        overflow: false,
        fullNid: "",
        maxNodes: 0,
      }).finish(),
    ),
  );
  assert.deepEqual(back, { sid: "s", nid: "n", service: "rtc", region: "eu" });
  const svc = root.lookupService("islb.ISLB");
  assert.ok(svc.methods.Watch?.responseStream);
});
