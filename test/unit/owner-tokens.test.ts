/**
 * The memory store keeps owner tokens in a column of bytes (OwnerTokens): these pin that a
 * token matches exactly itself, whatever its length or characters (short, the 24 characters
 * the service makes, longer ones, ones with characters above one byte, the empty one), and
 * that a slot freed and reused holds only its new owner's token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { OwnerTokens } from "../../src/registry/owner-tokens.js";

test("a token matches itself only, whatever its length and characters", () => {
  const t = new OwnerTokens();
  const made = randomBytes(18).toString("base64url");
  const tokens = ["", "a", "tok-7", made, `${made}x`, "x".repeat(256), "é-latin1", "日本-token", "\u0000"];
  tokens.forEach((tok, s) => t.set(s * 37, tok));
  tokens.forEach((tok, s) => {
    for (const other of tokens) assert.equal(t.is(s * 37, other), other === tok, `${s}: ${tok} vs ${other}`);
    assert.equal(t.is(s * 37, `${tok}?`), false);
    // A prefix is another token (but for the empty one, whose prefix is itself).
    assert.equal(t.is(s * 37, tok.slice(0, -1)), tok === "");
  });
  assert.equal(t.is(1, ""), false, "a slot never set has no token");
  assert.equal(t.is(100_000, "a"), false);
});

test("a slot freed and reused holds only its new owner's token", () => {
  const t = new OwnerTokens();
  const long = "L".repeat(40);
  t.set(3, long);
  t.delete(3);
  assert.equal(t.is(3, long), false);
  t.set(3, "short");
  assert.equal(t.is(3, "short"), true);
  assert.equal(t.is(3, long), false);
  t.set(3, long);
  assert.equal(t.is(3, "short"), false);
  assert.equal(t.is(3, long), true);
  t.set(3, "abc");
  assert.equal(t.is(3, long), false);
  assert.equal(t.is(3, "abc"), true);
  t.delete(3);
  assert.equal(t.is(3, "abc"), false);
  assert.equal(t.is(3, ""), false);
});
