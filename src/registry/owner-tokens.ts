/**
 * The memory store's owner tokens by slot (see NodeTable), as one column of bytes: each token
 * of up to WIDTH one-byte characters (the 24 characters of base64url the service and the
 * agent make) in its slot's run, with its length beside it; a longer or wider one is kept as
 * is in a map (exact either way). 25 bytes a slot, where a pointer and a string cost 40 (a
 * short token) to 48 (one of 24 characters). Compared in time that depends on the length only
 * (every character is compared, not up to the first that differs), so timing a refusal does
 * not tell how much of a guess was right.
 */
import { grown, widened } from "./capacity.js";

const WIDTH = 24;
/** `lengths` of a slot with no token. */
const NONE = 0;
/** `lengths` of a slot whose token is in `long`. */
const LONG = 255;

export class OwnerTokens {
  private cap = 0;
  /** WIDTH bytes a slot. */
  private chars = new Uint8Array(0);
  /** NONE, LONG, or 1 + the length of the token in `chars`. */
  private lengths = new Uint8Array(0);
  private readonly long = new Map<number, string>();

  /** True when slot `s` has token `token` (false when it has none). */
  is(s: number, token: string): boolean {
    if (s >= this.cap) return false;
    const n = this.lengths[s] as number;
    if (n === NONE) return false;
    if (n === LONG) return sameString(this.long.get(s) ?? "", token);
    if (token.length !== n - 1) return false;
    const chars = this.chars;
    const at = s * WIDTH;
    let diff = 0;
    for (let i = 0; i < token.length; i++) diff |= (chars[at + i] as number) ^ token.charCodeAt(i);
    return diff === 0;
  }

  set(s: number, token: string): void {
    if (s >= this.cap) this.grow(s);
    if (this.long.size > 0) this.long.delete(s);
    if (token.length > WIDTH || !fits(token)) {
      this.lengths[s] = LONG;
      this.long.set(s, token);
      return;
    }
    const at = s * WIDTH;
    for (let i = 0; i < token.length; i++) this.chars[at + i] = token.charCodeAt(i);
    this.lengths[s] = token.length + 1;
  }

  /** Forgets the token of slot `s`. */
  delete(s: number): void {
    if (s >= this.cap) return;
    this.lengths[s] = NONE;
    if (this.long.size > 0) this.long.delete(s);
  }

  private grow(s: number): void {
    const cap = Math.max(s + 1, grown(this.cap));
    this.chars = widened(this.chars, cap * WIDTH);
    this.lengths = widened(this.lengths, cap);
    this.cap = cap;
  }
}

/** True when every character of `token` is one byte. */
function fits(token: string): boolean {
  for (let i = 0; i < token.length; i++) if (token.charCodeAt(i) > 0xff) return false;
  return true;
}

/** a === b, comparing every character when the lengths agree (not up to the first difference). */
function sameString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
