/**
 * Load-only heartbeats to the Redis store, batched: the heartbeats that arrive in one turn of
 * the event loop go to Redis in HEARTBEATS script calls of at most 64 (turn-batch.ts says how
 * they are cut, and why), each of which writes only each node's load and lease and appends
 * one compact entry for its heartbeats to the stream. The call carries that entry's body (one
 * string for the call) and one token per heartbeat: few arguments to build, send and parse,
 * on both sides.
 * Their revisions are taken as the answer arrives, and this instance's view applies them in
 * revision order once the replies went out (see ChangeTail.applyOwnLoads).
 */
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeTail } from "./redis-tail.js";
import type { Load } from "./model.js";
import { TurnBatch } from "./turn-batch.js";

/** One node's load-only heartbeat, as the script takes it. */
export interface LoadBeat {
  readonly nid: string;
  readonly token: string;
  /** base64 of an islb.Load message. */
  readonly load: string;
  /** The same load, for this instance's view. */
  readonly value: Load;
  readonly expiresAt: number;
  readonly leaseMs: number;
}

/** A batch's stream body: "nid load exp lms" per heartbeat, space-separated ("-": an empty load). */
export function loadsBody(beats: readonly LoadBeat[]): string {
  let body = "";
  for (let i = 0; i < beats.length; i++) {
    const b = beats[i] as LoadBeat;
    body += `${i === 0 ? "" : " "}${b.nid} ${b.load === "" ? "-" : b.load} ${b.expiresAt} ${b.leaseMs}`;
  }
  return body;
}

/**
 * Sends load-only heartbeats of shard `shard`; each resolves to its view revision, or -1, -2,
 * -3 (see HEARTBEATS). A node's key lives its lease and `keyGraceMs` from the write.
 */
export function heartbeatBatch(
  conn: RedisConnection,
  k: RedisKeys,
  shard: number,
  streamLength: number,
  keyGraceMs: number,
  feed: ChangeTail,
): TurnBatch<LoadBeat, number> {
  return new TurnBatch(async (beats) => {
    const now = Date.now();
    const args: (string | number)[] = [3, k.leases, k.events, k.rev, streamLength, now, feed.seed(now)];
    const body = loadsBody(beats);
    args.push(keyGraceMs, k.node, body);
    for (const b of beats) args.push(b.token);
    // The tail may read the entry before the answer comes: it applies it from these beats then.
    const forget = feed.expectOwnLoads(shard, body, beats);
    let codes: unknown[];
    try {
      codes = await conn.guard(conn.cmd.islbHeartbeats(...args));
    } finally {
      forget();
    }
    return feed.applyOwnLoads(
      shard,
      beats,
      beats.map((_, i) => Number(codes[i] ?? -2)),
    );
  });
}
