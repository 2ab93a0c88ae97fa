/**
 * Load-only heartbeats to the Redis store, batched: the heartbeats that arrive in one turn of
 * the event loop (and while an earlier call is out) go to Redis as one HEARTBEATS script call
 * (redis-scripts.ts), which writes only each node's load and lease and appends one compact
 * entry for all of them to the stream. Their change is applied to this instance's view as the
 * answer arrives, in revision order (see ChangeTail.applyOwnLoads).
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
  /** How long the node's key lives (its lease and a grace). */
  readonly ttlMs: number;
  readonly leaseMs: number;
}

/** Sends load-only heartbeats of shard `shard`; each resolves to its view revision, or -1, -2, -3 (see HEARTBEATS). */
export function heartbeatBatch(
  conn: RedisConnection,
  k: RedisKeys,
  shard: number,
  streamLength: number,
  feed: ChangeTail,
): TurnBatch<LoadBeat, number> {
  return new TurnBatch(async (beats) => {
    const now = Date.now();
    const keys: string[] = [k.leases, k.events, k.rev];
    const args: (string | number)[] = [streamLength, now, feed.seed(now)];
    for (const b of beats) {
      keys.push(k.node + b.nid);
      args.push(b.nid, b.token, b.load, b.expiresAt, b.ttlMs, b.leaseMs);
    }
    const codes = await conn.guard(conn.cmd.islbHeartbeats(keys.length, ...keys, ...args));
    return feed.applyOwnLoads(
      shard,
      beats,
      beats.map((_, i) => Number(codes[i] ?? -2)),
    );
  });
}
