/**
 * The gob codec against every frame captured from Go's nats-discovery: decoded values match
 * what Go decoded, and re-encoding (with ids assigned in the order that Go process assigned
 * them) gives the captured bytes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_VALUES, decodeGob, valueBudget } from "../../src/gob/decoder.js";
import { GobEncoder } from "../../src/gob/encoder.js";
import { GobError, struct, type GoType } from "../../src/gob/types.js";
import { Reader, Writer } from "../../src/gob/wire.js";
import {
  DISCOVERY_TYPES,
  GET_RESPONSE,
  MAP_STRING_ANY,
  MAP_STRING_STRING,
  NODE,
  NODES,
  REQUEST,
  RESPONSE,
  RPC,
} from "../../src/discovery/types.js";
import { hex, plainGo as plain, unhex, vectorsDir } from "../helpers/vectors.js";
import { gobBomb } from "../helpers/gob-bomb.js";

interface Frame {
  subject: string;
  hex: string;
  go_type: string;
  decoded_json: unknown;
  dynamic_types?: Record<string, Record<string, string>>;
  gob_type_ids?: Record<string, string>;
}
const scenarios = JSON.parse(readFileSync(join(vectorsDir(), "nats-discovery", "captures.json"), "utf8")) as Array<{
  scenario: string;
  frames: Frame[];
}>;
const frames = scenarios.flatMap((s) => s.frames.map((f) => ({ ...f, scenario: s.scenario })));

const MESSAGES = [REQUEST, RESPONSE, GET_RESPONSE];
const HISTORIES: GoType[][] = MESSAGES.flatMap((a) =>
  MESSAGES.filter((b) => b !== a).map((b) => [a, b, MESSAGES.find((c) => c !== a && c !== b) as GoType]),
);
const BY_NAME: Record<string, GoType> = {
  Request: REQUEST,
  Node: NODE,
  RPC,
  "map[string]string": MAP_STRING_STRING,
  "map[string]interface {}": MAP_STRING_ANY,
  Response: RESPONSE,
  GetResponse: GET_RESPONSE,
  "[]discovery.Node": NODES,
};

test("primitives: the examples of GOB.md", () => {
  const enc = (f: (w: Writer) => void) => {
    const w = new Writer();
    f(w);
    return hex(w.bytes());
  };
  assert.equal(
    enc((w) => w.uint(145)),
    "ff91",
  );
  assert.equal(
    enc((w) => w.uint(1000)),
    "fe03e8",
  );
  assert.deepEqual(
    [8, -5, 65, -65, 1000, 6].map((n) => enc((w) => w.int(n))),
    ["10", "09", "ff82", "ff81", "fe07d0", "0c"],
  );
  assert.equal(
    enc((w) => w.float(0.5)),
    "fee03f",
  );
  assert.equal(
    enc((w) => w.float(-2.75)),
    "fe06c0",
  );
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
  const bad = [
    new TextEncoder().encode("hello"),
    good.subarray(0, good.length - 5),
    unhex("ff"),
    unhex("05ff8103ff"),
    unhex("f8ffffffffffffffff01"),
    new Uint8Array(0),
    unhex("0306000000"),
  ];
  for (let cut = 1; cut < good.length; cut += 7) bad.push(good.subarray(0, cut));
  for (const b of bad) assert.throws(() => decodeGob(b), GobError, hex(b).slice(0, 40));
  // a huge declared length is refused before anything is allocated
  assert.throws(() => decodeGob(unhex("f8000000ffffffffff")), GobError);
});

test("GOB.md 4.6: an interface holding []string, its definition inline, the value split across two messages", () => {
  const full =
    "42ff81030101075265717565737401ff820001040106416374696f6e010c0001044e6f646501ff8400010753657276696365010c000106506172616d7301ff8a00000045ff83030101044e6f646501ff8400010501024443010c00010753657276696365010c0001034e4944010c00010352504301ff860001094578747261496e666f01ff8a00000033ff850301010352504301ff86000103010850726f746f636f6c010c00010441646472010c000106506172616d7301ff8800000021ff87040101116d61705b737472696e675d737472696e6701ff8800010c010c000027ff89040101176d61705b737472696e675d696e74657266616365207b7d01ff8a00010c0110000040ff820104736176650101016401017301016e0100010401750475696e7406020007036e696c000474616773085b5d737472696e67ff8b020102ff8c00010c000019ff8c06000201610162036e363405696e743634040200090000";
  const d = decodeGob(unhex(full));
  const node = (d.value as { Node: { DC: string; ExtraInfo: Map<string, unknown> } }).Node;
  assert.equal(node.DC, "d");
  assert.deepEqual(
    [...node.ExtraInfo],
    [
      ["u", { type: "uint", value: 7 }],
      ["nil", null],
      ["tags", { type: "[]string", value: ["a", "b"] }],
      ["n64", { type: "int64", value: -5 }],
    ],
  );
  assert.equal(d.types.get(70)?.kind, "slice");
});

test("round trips of random discovery values: strings (unicode too), ints and uints of every size, floats, bools, maps", async () => {
  const { struct } = await import("../../src/gob/types.js");
  let seed = 42;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const str = (): string =>
    Array.from({ length: Math.floor(rnd() * 12) }, () =>
      rnd() < 0.2
        ? (["é", "☺", "😈"][Math.floor(rnd() * 3)] as string)
        : String.fromCharCode(97 + Math.floor(rnd() * 26)),
    ).join("");
  const anyValue = () => {
    const k = Math.floor(rnd() * 5);
    if (k === 0) return { type: "string", value: str() };
    if (k === 1) return { type: "int", value: Math.floor((rnd() - 0.5) * 2 ** 40) };
    if (k === 2) return { type: "float64", value: (rnd() - 0.5) * 1e6 };
    if (k === 3) return { type: "bool", value: rnd() < 0.5 };
    return { type: "uint", value: Math.floor(rnd() * 2 ** 50) };
  };
  const map = <T>(make: () => T) =>
    new Map(Array.from({ length: Math.floor(rnd() * 4) }, () => [str() || "k", make()] as [string, T]));
  const encoder = new GobEncoder();
  for (let i = 0; i < 300; i++) {
    const node = struct([
      ["DC", str()],
      ["Service", str()],
      ["NID", str()],
      [
        "RPC",
        struct([
          ["Protocol", str()],
          ["Addr", str()],
          ["Params", map(str)],
        ]),
      ],
      ["ExtraInfo", map(anyValue)],
    ]);
    const req = struct([
      ["Action", ["save", "update", "delete", "get"][i % 4] as string],
      ["Node", node],
      ["Service", str()],
      ["Params", map(anyValue)],
    ]);
    const back = decodeGob(encoder.encode(REQUEST, req)).value as Record<string, unknown>;
    // Empty maps come back as nil (Go omits them), as Go itself would see them.
    const norm = (v: unknown): unknown =>
      v instanceof Map && v.size === 0
        ? null
        : v instanceof Map
          ? new Map([...v].map(([k, x]) => [k, norm(x)]))
          : v !== null && typeof v === "object" && !("type" in v)
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]))
            : v;
    assert.deepEqual(norm(back), norm(req));
  }
});

test("a gob bomb (1 KB of types whose zero value is 2^30 objects, or 3^30, 4^30) is refused by the value budget", () => {
  for (const [width, levels] of [
    [2, 30],
    [3, 30],
    [4, 30],
    [2, 31],
  ] as const) {
    const bomb = gobBomb(width, levels);
    assert.ok(bomb.length < 2048, `${bomb.length} bytes`);
    assert.throws(
      () => decodeGob(bomb),
      (e: unknown) =>
        e instanceof GobError &&
        e.message.includes(`may build ${valueBudget(bomb.length)} values`) &&
        !/too deeply/.test(e.message),
      `width ${width}, ${levels} levels: refused for its size, not its depth`,
    );
  }
  // The same shape, small enough for the budget, decodes to its whole zero value.
  const small = decodeGob(gobBomb(2, 4)).value as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(small), ["F0", "F1"]);
  assert.deepEqual(plain(small.F1?.F0), { F0: { F0: {}, F1: {} }, F1: { F0: {}, F1: {} } });
});

test("the value budget grows with the stream up to its cap, and fits real messages with room to spare", () => {
  assert.ok(valueBudget(0) >= 1024);
  assert.ok(valueBudget(10_000) > valueBudget(1000));
  assert.equal(valueBudget(64 * 1024), MAX_VALUES);
  // Every captured frame, and a Request with a thousand ExtraInfo entries, decode.
  for (const f of frames) decodeGob(unhex(f.hex));
  const extra = new Map(Array.from({ length: 1000 }, (_, i) => [`k${i}`, { type: "int", value: i }]));
  const node = decodeGob(
    new GobEncoder().encode(
      REQUEST,
      struct([
        ["Action", "save"],
        [
          "Node",
          struct([
            ["DC", "dc1"],
            ["Service", "rtc"],
            ["NID", "sfu-1"],
            [
              "RPC",
              struct([
                ["Protocol", "nats"],
                ["Addr", "nats://x"],
                ["Params", new Map()],
              ]),
            ],
            ["ExtraInfo", extra],
          ]),
        ],
        ["Service", ""],
        ["Params", new Map()],
      ]),
    ),
  ).value as { Node: { ExtraInfo: Map<string, unknown> } };
  assert.equal(node.Node.ExtraInfo.size, 1000);
});
