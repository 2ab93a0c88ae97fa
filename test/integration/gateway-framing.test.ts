/** The gateway's message framing, alone: messages split across chunks any way, limits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Status } from "../../src/index.js";
import { FramingError, MessageParser, framed, messagePrefix } from "../../src/gateway/framing.js";

function parseAll(body: Buffer, cuts: number[], max = 1 << 20): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const p = new MessageParser(max, (flags, m) => out.push([flags, Buffer.from(m).toString("hex")]));
  let at = 0;
  for (const c of [...cuts, body.length]) {
    p.push(body.subarray(at, c));
    at = c;
  }
  assert.equal(p.partial, false);
  return out;
}

test("messages split across chunks at every position come out whole, in order", () => {
  const msgs = [Buffer.alloc(0), Buffer.from("a"), Buffer.alloc(300, 7), Buffer.from("xyz")];
  const body = Buffer.concat([
    framed(msgs[0] as Buffer),
    framed(msgs[1] as Buffer, 0x80),
    Buffer.concat([messagePrefix(300), msgs[2] as Buffer]),
    framed(msgs[3] as Buffer),
  ]);
  const want: Array<[number, string]> = [
    [0, ""],
    [0x80, "61"],
    [0, (msgs[2] as Buffer).toString("hex")],
    [0, "78797a"],
  ];
  assert.deepEqual(parseAll(body, []), want);
  for (let i = 1; i < body.length; i++) assert.deepEqual(parseAll(body, [i]), want, `cut at ${i}`);
  for (let i = 1; i < body.length; i += 7)
    assert.deepEqual(
      parseAll(
        body,
        Array.from({ length: body.length - i }, (_, k) => i + k).filter((_, k) => k % 3 === 0),
      ),
      want,
    );
});

test("a message over the limit is refused from its prefix, before its bytes are held", () => {
  const p = new MessageParser(10, () => assert.fail("no message"));
  assert.throws(
    () => p.push(messagePrefix(11)),
    (e: unknown) => e instanceof FramingError && e.code === Status.RESOURCE_EXHAUSTED,
  );
});

test("a body cut inside a message is partial", () => {
  const p = new MessageParser(100, () => undefined);
  p.push(framed(Buffer.from("hello")).subarray(0, 7));
  assert.equal(p.partial, true);
  assert.equal(p.buffered, 2);
});
