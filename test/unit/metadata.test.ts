import { test } from "node:test";
import assert from "node:assert/strict";
import { headers } from "nats";
import {
  H,
  Metadata,
  decodeMessage,
  encodeMessage,
  fromFrameMetadata,
  readHeaders,
  toFrameMetadata,
  writeHeaders,
} from "../../src/metadata.js";

test("grpc-message percent-encoding round-trips whitespace and unicode", () => {
  const s = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%";
  const e = encodeMessage(s);
  assert.match(e, /^[\x20-\x7e]*$/);
  assert.equal(decodeMessage(e), s);
  assert.equal(encodeMessage("plain"), "plain");
  assert.equal(decodeMessage("bad %zz escape %"), "bad %zz escape %");
});

test("metadata to NATS headers and back: multi-values, -bin as base64, trailers apart, reserved keys skipped", () => {
  const md = Metadata();
  md.append("a", "1");
  md.append("a", "2");
  md.set("x-bin", new Uint8Array([0, 255, 1]));
  const tr = Metadata({ t: "z" });
  const h = headers();
  h.set(H.status, "0");
  writeHeaders(md, h);
  writeHeaders(tr, h, H.trailerPrefix);
  assert.deepEqual(h.values("x-bin"), ["AP8B"]);
  const back = readHeaders(h);
  assert.deepEqual(back.getAll("a"), ["1", "2"]);
  assert.equal(back.get("a"), "1, 2");
  assert.deepEqual([...(back.get("x-bin") as Uint8Array)], [0, 255, 1]);
  assert.equal(back.has("grpc-status"), false);
  assert.equal(back.has("t"), false);
  assert.deepEqual(readHeaders(h, H.trailerPrefix).getAll("t"), ["z"]);
});

test("metadata values that cannot travel are refused; keys are checked", () => {
  assert.throws(() => toFrameMetadata(Metadata({ a: "line\nbreak" })), /printable ASCII/);
  assert.throws(() => Metadata({ "Bad Key": "x" }));
  assert.throws(() => Metadata().set("k-bin", "text" as never));
});

test("frame metadata round trip keeps values apart and drops invalid keys from the wire", () => {
  const md = Metadata();
  md.append("a", "1");
  md.append("a", "2");
  const fm = toFrameMetadata(md);
  assert.deepEqual(fm?.md.get("a")?.values, ["1", "2"]);
  const wire = {
    md: new Map([
      ["ok", { values: ["v"] }],
      ["bad key", { values: ["x"] }],
      ["grpc-status", { values: ["0"] }],
    ]),
  };
  const back = fromFrameMetadata(wire);
  assert.deepEqual(
    [...back].map(([k]) => k),
    ["ok"],
  );
  assert.equal(toFrameMetadata(Metadata()), undefined);
});

test("grpc-status-details-bin (rich error details) passes as trailer metadata both ways; other grpc- keys do not", () => {
  const details = new Uint8Array([8, 5, 18, 1, 120]);
  const tr = Metadata();
  tr.set("grpc-status-details-bin", details);
  tr.set("grpc-other", "x");
  const h = headers();
  writeHeaders(tr, h, H.trailerPrefix);
  assert.deepEqual(h.values("grpc-trailer-grpc-status-details-bin"), [Buffer.from(details).toString("base64")]);
  assert.equal(h.has("grpc-trailer-grpc-other"), false);
  assert.deepEqual([...(readHeaders(h, H.trailerPrefix).get("grpc-status-details-bin") as Uint8Array)], [...details]);
  const back = fromFrameMetadata(toFrameMetadata(tr));
  assert.deepEqual([...(back.get("grpc-status-details-bin") as Uint8Array)], [...details]);
  assert.equal(back.has("grpc-other"), false);
});
