/**
 * The digest of the sessions a node hosts, as heartbeats carry it (HeartbeatRequest.sessions_digest):
 * "<count>:<16 hex digits>", the count and the XOR of each id's first 8 SHA-256 bytes. Order does
 * not matter, and a node keeps it up to date by XOR-ing what it adds and removes.
 */
import { createHash } from "node:crypto";

/** Session ids per heartbeat, added and removed together, at most. */
export const MAX_REPORTED = 10_000;

/** The 64-bit hash of one session id. */
export function sessionHash(sid: string): bigint {
  return createHash("sha256").update(sid, "utf8").digest().readBigUInt64BE(0);
}

/** The digest of a count and the XOR of its ids' hashes. */
export function formatDigest(count: number, xor: bigint): string {
  return `${count}:${xor.toString(16).padStart(16, "0")}`;
}

/** The digest of a list of distinct session ids. */
export function sessionsDigest(sids: Iterable<string>): string {
  let n = 0;
  let x = 0n;
  for (const sid of sids) {
    n++;
    x ^= sessionHash(sid);
  }
  return formatDigest(n, x);
}

const DIGEST = /^(\d{1,9}):[0-9a-f]{16}$/;

/** The count a digest names, or undefined when it is not one. */
export function digestCount(digest: string): number | undefined {
  const m = DIGEST.exec(digest);
  return m === null ? undefined : Number(m[1]);
}
