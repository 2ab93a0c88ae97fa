/**
 * Where the Redis store's keys live: one shard (every key under the hash tag {islb}, one slot:
 * the layout of single Redis and Sentinel), or several (a Redis Cluster that scales writes:
 * each shard its own hash tag, so its own slot, with its own node hashes, leases, sessions,
 * change stream and revision counter; a service's keys all live in one shard, so every script
 * still touches one slot). The shards' tags are picked so that shard i's slot lies in the i-th
 * of `count` equal slot ranges: a cluster created with its slots split evenly (as
 * `redis-cli --cluster create` does) gets the same number of shards on every master when
 * `count` is a multiple of the number of masters. Layout: docs/REDIS.md.
 */
import { fnv1a } from "./fnv.js";

/** The keys of one shard of a registry (docs/REDIS.md); every key of it shares its hash tag. */
export interface RedisKeys {
  rev: string;
  nodes: string;
  leases: string;
  events: string;
  /** Prefix of the node hashes (`node:<nid>`). */
  node: string;
  /** Prefix of the session keys (`s:<service>.<sid>`). */
  session: string;
  /** The stream of session releases and re-placements (entry field `k`: the session key). */
  sessionChanges: string;
}

/** Shards at most (revisions stay exact doubles: docs/REDIS.md). */
export const MAX_SHARDS = 16;

export interface RedisLayout {
  /** The keys of each shard; one entry: today's single-slot layout. */
  readonly shards: readonly RedisKeys[];
  /** The shard a service's keys live in. */
  of(service: string): number;
}

/** A session's placement key in its service's shard: a service name cannot contain ".", so "<service>.<sid>" is unambiguous. */
export const sessionKey = (k: RedisKeys, service: string, sid: string): string => `${k.session}${service}.${sid}`;

/** The keys of one shard: every key under `prefix{tag}:`. */
export function shardKeys(prefix: string, tag: string): RedisKeys {
  const t = `${prefix}{${tag}}:`;
  return {
    rev: `${t}rev`,
    nodes: `${t}nodes`,
    leases: `${t}leases`,
    events: `${t}events`,
    node: `${t}node:`,
    session: `${t}s:`,
    sessionChanges: `${t}sessions`,
  };
}

/** CRC16 (XMODEM), as Redis Cluster hashes keys. */
function crc16(s: string): number {
  const bytes = Buffer.from(s, "utf8");
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Cluster slot of a hash tag (of any key carrying `{tag}`). */
export function slotOfTag(tag: string): number {
  return crc16(tag) % 16384;
}

/** The layout of `count` shards under `prefix` (count 1: every key under {islb}, as always). */
export function redisLayout(prefix: string, count: number): RedisLayout {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)
    throw new Error(`redis shards must be a whole number from 1 to ${MAX_SHARDS}, not ${count}`);
  if (count === 1) return { shards: [shardKeys(prefix, "islb")], of: () => 0 };
  const shards: RedisKeys[] = [];
  for (let i = 0; i < count; i++) {
    const lo = Math.floor((i * 16384) / count);
    const hi = Math.floor(((i + 1) * 16384) / count);
    let j = 0;
    while (!(slotOfTag(`islb:${i}.${j}`) >= lo && slotOfTag(`islb:${i}.${j}`) < hi)) j++;
    shards.push(shardKeys(prefix, `islb:${i}.${j}`));
  }
  // A service's shard: FNV-1a of its name.
  return { shards, of: (service) => fnv1a(service) % count };
}
