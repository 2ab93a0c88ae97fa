/**
 * Unguessable per-call tokens. Every identifier of a call that travels on the bus (a
 * client's reply subject, a server's per-call subject) ends in RANDOM_CHARS characters of
 * the URL-safe base 64 alphabet drawn from the system's CSPRNG: 96 bits, so knowing one
 * call's subject says nothing about the next (NUID alone would: its sequence part is a
 * counter with a small random step). Random bytes are taken from a pool filled 4 KiB at a
 * time, so a token costs no system call.
 */
import { randomFillSync } from "node:crypto";

/** Characters of randomness at the end of every per-call token (6 bits each: 96 bits). */
export const RANDOM_CHARS = 16;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const pool = new Uint8Array(4096);
let used = pool.length;
const scratch = new Array<number>(RANDOM_CHARS).fill(0);

/** RANDOM_CHARS fresh random characters, each one subject-safe (`[A-Za-z0-9_-]`). */
export function randomChars(): string {
  if (used + RANDOM_CHARS > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  for (let i = 0; i < RANDOM_CHARS; i++) scratch[i] = CODES[(pool[used + i] as number) & 63] as number;
  used += RANDOM_CHARS;
  return String.fromCharCode.apply(null, scratch);
}

/** True when the last RANDOM_CHARS bytes of `subject` are the characters of `key` (compared in place). */
export function endsWithKey(subject: Uint8Array, key: string): boolean {
  const at = subject.length - RANDOM_CHARS;
  if (at < 0 || key.length !== RANDOM_CHARS) return false;
  let diff = 0;
  for (let i = 0; i < RANDOM_CHARS; i++) diff |= (subject[at + i] as number) ^ key.charCodeAt(i);
  return diff === 0;
}
