/**
 * The gob codec against every frame captured from Go's nats-discovery: decoded values match
 * what Go decoded, and re-encoding (with ids assigned in the order that Go process assigned
 * them) gives the captured bytes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeGob } from "../../src/gob/decoder.js";
import { GobEncoder } from "../../src/gob/encoder.js";
import { GobError, type GoAny, type GoType } from "../../src/gob/types.js";
import { Reader, Writer } from "../../src/gob/wire.js";
import { DISCOVERY_TYPES, GET_RESPONSE, MAP_STRING_ANY, MAP_STRING_STRING, NODE, NODES, REQUEST, RESPONSE, RPC } from "../../src/discovery/types.js";
import { hex, unhex, vectorsDir } from "../helpers/vectors.js";

interface Frame {
  subject: string;
  hex: string;
  go_type: string;
  decoded_json: unknown;
  dynamic_types?: Record<string, Record<string, string>>;
  gob_type_ids?: Record<string, string>;
}
const scenarios = JSON.parse(readFileSync(join(vectorsDir(), "nats-discovery", "captures.json"), "utf8")) as Array<{ scenario: string; frames: Frame[] }>;
const frames = scenarios.flatMap((s) => s.frames.map((f) => ({ ...f, scenario: s.scenario })));

/** What Go's decoded_json shows: maps as objects, interface values bare, bytes as base64. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (v !== null && typeof v === "object") {
    if ("type" in v && "value" in v && Object.keys(v).length === 2) return plain((v as GoAny).value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

const MESSAGES = [REQUEST, RESPONSE, GET_RESPONSE];
const HISTORIES: GoType[][] = MESSAGES.flatMap((a) => MESSAGES.filter((b) => b !== a).map((b) => [a, b, MESSAGES.find((c) => c !== a && c !== b) as GoType]));
const BY_NAME: Record<string, GoType> = { Request: REQUEST, Node: NODE, RPC, "map[string]string": MAP_STRING_STRING, "map[string]interface {}": MAP_STRING_ANY, Response: RESPONSE, GetResponse: GET_RESPONSE, "[]discovery.Node": NODES };

test("primitives: the examples of GOB.md", () => {
  const enc = (f: (w: Writer) => void) => {
    const w = new Writer();
    f(w);
    return hex(w.bytes());
  };
  assert.equal(enc((w) => w.uint(145)), "ff91");
  assert.equal(enc((w) => w.uint(1000)), "fe03e8");
  assert.deepEqual([8, -5, 65, -65, 1000, 6].map((n) => enc((w) => w.int(n))), ["10", "09", "ff82", "ff81", "fe07d0", "0c"]);
  assert.equal(enc((w) => w.float(0.5)), "fee03f");
  assert.equal(enc((w) => w.float(-2.75)), "fe06c0");
  assert.equal(new Reader(unhex("fe06c0")).float(), -2.75);
  assert.equal(new Reader(unhex("ff81")).int(), -65);
  assert.equal(new Reader(unhex("f8ffffffffffffffff")).uint(), 2n ** 64n - 1n, "past 2^53: a bigint");
});

test(`the captures: ${frames.length} frames of ${scenarios.length} scenarios`, () => {
  assert.ok(frames.length >= 40);
});

for (const [i, f] of frames.entries()) {
  test(`frame ${i} (${f.scenario}, ${f.go_type}): decodes as Go decoded it, re-encodes to the same bytes`, () => {
    const d = decodeGob(unhex(f.hex));
    assert.deepEqual(plain(d.value), f.decoded_json);
    // The sending Go process numbered types the first time it encoded each message type:
    // find the order of its message types that gives the captured ids.
    const ids = Object.entries(f.gob_type_ids ?? {});
    const encoder = HISTORIES.map((h) => {
      const e = new GobEncoder();
      for (const t of h) e.id(t);
      return e;
    }).find((e) => ids.every(([id, name]) => e.id(BY_NAME[name] as GoType) === Number(id)));
    assert.ok(encoder, `an order of message types that gives ${JSON.stringify(f.gob_type_ids)}`);
    const type = DISCOVERY_TYPES[f.go_type] as GoType;
    assert.equal(hex(encoder.encode(type, d.value)), f.hex);
  });
}

test("bad gob input is a GobError, never a crash", () => {
  const good = unhex(frames[0]?.hex as string);
  const bad = [new TextEncoder().encode("hello"), good.subarray(0, good.length - 5), unhex("ff"), unhex("05ff8103ff"), unhex("f8ffffffffffffffff01"), new Uint8Array(0), unhex("0306000000")];
  for (let cut = 1; cut < good.length; cut += 7) bad.push(good.subarray(0, cut));
  for (const b of bad) assert.throws(() => decodeGob(b), GobError, hex(b).slice(0, 40));
  // a huge declared length is refused before anything is allocated
  assert.throws(() => decodeGob(unhex("f8000000ffffffffff")), GobError);
});
