import { test } from "node:test";
import assert from "node:assert/strict";
import { dottedProblem, methodSubject, splitServiceMethod, tokenProblem } from "../../src/subjects.js";

test("subjects follow the nats-grpc layout", () => {
  assert.equal(methodSubject("nrpc", "islb.ISLB", "FindNode"), "nrpc.islb.ISLB.FindNode");
  assert.equal(methodSubject("nrpc", "islb.ISLB", "FindNode", "sfu-1"), "nrpc.sfu-1.islb.ISLB.FindNode");
  assert.deepEqual(splitServiceMethod("interop.test.Test.Hello"), { service: "interop.test.Test", method: "Hello" });
  assert.equal(splitServiceMethod("NoDot"), undefined);
});

test("tokens that would break a subject are refused with a reason", () => {
  for (const bad of ["", "a.b", "a*", ">", "a b", "tab\t", "nl\n", "x".repeat(200)])
    assert.ok(tokenProblem("node id", bad), JSON.stringify(bad));
  for (const ok of ["sfu-1", "islb_2", "node:7", "ünï"]) assert.equal(tokenProblem("node id", ok), undefined, ok);
  assert.equal(dottedProblem("prefix", "nrpc.v2"), undefined);
  assert.ok(dottedProblem("prefix", "nrpc..x"));
  assert.ok(dottedProblem("prefix", "nrpc.>"));
});
