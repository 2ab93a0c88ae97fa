/**
 * Message encoding and decoding of the transport: a message given whole is encoded as given, a
 * partial one as fromPartial fills it in, with the same bytes either way; decoding with
 * interned strings gives what plain decoding gives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { FindNodeReply, NodeState, Registration, RegisterRequest } from "../../generated/islb/islb.js";
import { encodeMessageFrame, encodeProto } from "../../src/wire/encode.js";
import { encodeDataFrame } from "../../src/wire/frames.js";
import { InterningReader, decodeProto, reusesReader } from "../../src/wire/reader.js";

/** A deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = [
  "",
  "rtc",
  "sfu-1",
  "dc1",
  "eu-west",
  "nats://10.0.0.1:4222",
  "é",
  "节点",
  "x".repeat(47),
  "y".repeat(48),
  "z".repeat(49),
  "a".repeat(300),
  "\u{1F600}",
];

function registration(r: () => number): Registration {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const load = () => ({
    cpu: r(),
    sessions: Math.floor(r() * 1000),
    tracks: Math.floor(r() * 9),
    bandwidthIn: Math.floor(r() * 2 ** 40),
    bandwidthOut: 0,
  });
  const extra = new Map<string, Registration["extraInfo"] extends Map<string, infer V> ? V : never>();
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(r() * 5);
    extra.set(pick(WORDS) + i, {
      stringValue: kind === 0 ? pick(WORDS) : undefined,
      intValue: kind === 1 ? -Math.floor(r() * 2 ** 40) : undefined,
      uintValue: kind === 2 ? Math.floor(r() * 2 ** 40) : undefined,
      floatValue: kind === 3 ? r() * 1e6 : undefined,
      boolValue: kind === 4 ? r() < 0.5 : undefined,
      goType: pick(["int", "string", "bool", "float64"]),
    });
  }
  return {
    node:
      r() < 0.2
        ? undefined
        : {
            dc: pick(WORDS),
            nid: pick(WORDS),
            service: pick(WORDS),
            rpc:
              r() < 0.3
                ? undefined
                : { protocol: pick(WORDS), addr: pick(WORDS), params: new Map([[pick(WORDS), pick(WORDS)]]) },
          },
    state: pick([NodeState.NODE_STATE_SERVING, NodeState.NODE_STATE_DRAINING, 0]),
    region: pick(WORDS),
    load: r() < 0.2 ? undefined : load(),
    softLimits: r() < 0.5 ? undefined : load(),
    hardLimits: undefined,
    extraInfo: extra,
  };
}

/** Removes, nulls or mistypes fields at random, at any depth (maps and their values included). */
function damage(v: unknown, r: () => number): unknown {
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, damage(x, r)]));
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const d = r();
    if (d < 0.15) continue;
    if (d < 0.2) out[k] = null;
    else if (d < 0.25 && (typeof x === "string" || typeof x === "boolean"))
      out[k] = typeof x === "string" ? 7 : 1; // coerced by BinaryWriter
    else out[k] = damage(x, r);
  }
  return out;
}

test("a whole message and any partial one encode to the bytes of encode(fromPartial(m))", () => {
  const r = rng(7);
  let partial = 0;
  for (let i = 0; i < 2000; i++) {
    const whole = registration(r);
    const msg = i % 2 === 0 ? whole : damage(whole, r);
    const want = Registration.encode(Registration.fromPartial(msg as never)).finish();
    assert.deepEqual(encodeProto(Registration, msg), want, `case ${i}`);
    const wrapped = { registration: msg, token: "t", secret: "" };
    const wantWrapped = RegisterRequest.encode(RegisterRequest.fromPartial(wrapped as never)).finish();
    assert.deepEqual(encodeMessageFrame(RegisterRequest, wrapped).frame, encodeDataFrame(wantWrapped), `frame ${i}`);
    if (i % 2 === 1) partial++;
  }
  assert.equal(partial, 1000);
});

test("a message given whole is not copied; a partial one is filled in, and an invalid one still fails", () => {
  const reply = {
    nodes: [{ dc: "dc1", nid: "a", service: "rtc", rpc: undefined }],
    sessionNodes: [],
    sessionRevision: 0,
  };
  const get = Object.getOwnPropertyDescriptor;
  let reads = 0;
  const watched = Object.defineProperty({ ...reply }, "nodes", { get: () => (reads++, reply.nodes), enumerable: true });
  const bytes = encodeProto(FindNodeReply, watched);
  assert.equal(reads, 1, "encoded as given: one read of the field, no fromPartial pass");
  assert.ok(get(watched, "nodes")?.get !== undefined);
  assert.deepEqual(FindNodeReply.decode(bytes), FindNodeReply.fromPartial(reply));
  // partial: a node without nid, and a reply without nodes
  assert.deepEqual(FindNodeReply.decode(encodeProto(FindNodeReply, { nodes: [{ dc: "x" }] })).nodes[0], {
    dc: "x",
    nid: "",
    service: "",
    rpc: undefined,
  });
  assert.deepEqual(FindNodeReply.decode(encodeProto(FindNodeReply, {})), {
    nodes: [],
    explanation: undefined,
    sessionNodes: [],
    sessionRevision: 0,
  });
  // invalid whichever way it is encoded: a number where an int32 enum must be an integer
  assert.throws(() => encodeProto(Registration, { state: 1.5 }), /invalid int32/);
  // the shared writer is left clean after a failure
  assert.deepEqual(encodeProto(FindNodeReply, reply), FindNodeReply.encode(FindNodeReply.fromPartial(reply)).finish());
});

test("interned decoding gives what plain decoding gives, strings of every kind included", () => {
  const r = rng(11);
  for (let i = 0; i < 2000; i++) {
    const bytes = Registration.encode(registration(r)).finish();
    assert.deepEqual(decodeProto(Registration, bytes), Registration.decode(bytes), `case ${i}`);
  }
  // many distinct short strings (table slots shared and overwritten) stay exact
  for (let i = 0; i < 20_000; i++) {
    const s = `n${i.toString(36)}`;
    const bytes = FindNodeReply.encode({
      nodes: [{ dc: s, nid: s + "x", service: "rtc", rpc: undefined }],
      explanation: undefined,
      sessionNodes: [],
      sessionRevision: 0,
    }).finish();
    const got = decodeProto(FindNodeReply, bytes).nodes[0];
    assert.equal(got?.dc, s);
    assert.equal(got?.nid, s + "x");
  }
});

test("interned decoding: invalid UTF-8 is replaced as before, and truncated input still throws", () => {
  // Node{dc: <bytes>}: field 1, length-delimited
  const bad = new Uint8Array([0x0a, 0x03, 0x61, 0xff, 0x62]);
  const reply = new Uint8Array([0x0a, bad.length, ...bad]);
  assert.deepEqual(decodeProto(FindNodeReply, reply), FindNodeReply.decode(reply));
  assert.equal(decodeProto(FindNodeReply, reply).nodes[0]?.dc, "a\uFFFDb");
  const truncated = new Uint8Array([0x0a, 0x05, 0x0a, 0x09, 0x61, 0x62]);
  assert.throws(() => decodeProto(FindNodeReply, truncated));
  assert.throws(() => FindNodeReply.decode(new InterningReader(new Uint8Array([0x0a, 0x03, 0x0a, 0x05, 0x61]))));
  assert.ok(new InterningReader(new Uint8Array(0)) instanceof BinaryReader);
  // a decode that failed half-way leaves nothing behind for the next one
  const good = FindNodeReply.encode({
    nodes: [{ dc: "d", nid: "n", service: "s", rpc: undefined }],
    explanation: undefined,
    sessionNodes: [],
    sessionRevision: 0,
  }).finish();
  assert.equal(decodeProto(FindNodeReply, good).nodes[0]?.nid, "n");
});

test("one reader serves every decode with this version of @bufbuild/protobuf, fixed-width fields included", () => {
  assert.equal(reusesReader(), true, "BinaryReader's fields moved: every decode makes a reader again");
  const reg = {
    node: undefined,
    state: 0,
    region: "r",
    load: { cpu: 0.25, sessions: 3, tracks: 0, bandwidthIn: 2 ** 40, bandwidthOut: 0 },
    softLimits: undefined,
    hardLimits: undefined,
    extraInfo: new Map(),
  };
  const bytes = Registration.encode(reg).finish();
  for (let i = 0; i < 3; i++) assert.equal(decodeProto(Registration, bytes).load?.cpu, 0.25);
  const r = new InterningReader(new Uint8Array([0x0a, 0x01, 0x61])).reset(
    new Uint8Array([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]),
  );
  assert.equal(r.uint32(), 0x09);
  assert.equal(r.double(), 1);
});

test("a codec of one parameter (not ts-proto's) is given the bytes, not a reader", () => {
  const seen: unknown[] = [];
  const raw = { decode: (b: Uint8Array) => (seen.push(b), b) };
  const data = new Uint8Array([1, 2, 3]);
  assert.equal(decodeProto(raw, data), data);
  assert.ok(seen[0] instanceof Uint8Array && !(seen[0] instanceof BinaryReader));
});
