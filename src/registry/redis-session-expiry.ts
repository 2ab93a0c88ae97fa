/**
 * The Redis store's session events "all" (placed, expired): only when the registry runs with
 * `session_events = "all"`. A placement's key expires by its own TTL in Redis, which says
 * nothing when it goes, so each placement this instance makes (or re-learns) is also tracked,
 * per shard, in a sorted set of idle deadlines (`<tag>sidle`, member: the session's key) and a
 * hash of its node (`<tag>sidlenid`). TRACK writes those for the placements of one turn of the
 * event loop (one call of up to 256 out at a time), after PLACES answered (so a new placement
 * stays one round trip on the lookup's path), and appends the "placed" events of new ones. SWEEP, run
 * by every instance about once a second per shard, takes the due members: one whose key
 * still lives (renewed by lookups) is put back at its key's TTL; one whose key is gone ended
 * idle: it is removed and its "expired" event appended, in the same script, so only one
 * instance announces it. A release removes the tracking in its own script (RELEASE,
 * redis-scripts.ts).
 */
import type { Redis } from "ioredis";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeTail } from "./redis-tail.js";
import { TurnBatch } from "./turn-batch.js";
import { sessionKey } from "./redis-layout.js";

/** The shard's hash tag, from its keys (every key of a shard starts with it). */
const tagOf = (k: RedisKeys): string => k.rev.slice(0, -"rev".length);

/** The keys of the tracking of one shard. */
export const idleKeys = (k: RedisKeys): { idle: string; nids: string } => ({
  idle: `${tagOf(k)}sidle`,
  nids: `${tagOf(k)}sidlenid`,
});

/** Appends one session change (a Lua table) to the event stream with the next revision; returns it. */
const APPEND = `
local function append(change)
  if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[2]) end
  local rev = redis.call('INCR', KEYS[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], string.format('%d-0', rev), 't', 'session', 's', cjson.encode(change))
  return rev
end
`;

/**
 * KEYS: idle, nids, events, rev. ARGV: maxlen, seed, then per placement: key, service, sid,
 * nid, deadline (ms), new ('1': announce "placed"; a tracked node still there ended idle before:
 * "expired" first). Returns per placement the revision of its "placed" event (0: none).
 */
export const TRACK = `${APPEND}
local out = {}
for i = 3, #ARGV, 6 do
  local key, service, sid, nid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local rev = 0
  if ARGV[i + 5] == '1' then
    local old = redis.call('HGET', KEYS[2], key)
    if old then append({type = 'expired', service = service, sid = sid, nid = '', from = old, reason = 'idle'}) end
    rev = append({type = 'placed', service = service, sid = sid, nid = nid, from = '', reason = 'new'})
  end
  redis.call('ZADD', KEYS[1], ARGV[i + 4], key)
  redis.call('HSET', KEYS[2], key, nid)
  out[#out + 1] = rev
end
return out
`;

/**
 * KEYS: idle, nids, events, rev. ARGV: maxlen, seed, now (ms), at most this many, the prefix of
 * the shard's session keys. Returns how many expired.
 */
export const SWEEP = `${APPEND}
local now = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, key in ipairs(due) do
  local ttl = redis.call('PTTL', key)
  if ttl > 0 then
    redis.call('ZADD', KEYS[1], now + ttl, key)
  else
    local nid = redis.call('HGET', KEYS[2], key)
    redis.call('ZREM', KEYS[1], key)
    redis.call('HDEL', KEYS[2], key)
    if ttl == -2 and nid then
      local rest = string.sub(key, #ARGV[5] + 1)
      local dot = string.find(rest, '.', 1, true)
      if dot then
        append({type = 'expired', service = string.sub(rest, 1, dot - 1), sid = string.sub(rest, dot + 1),
          nid = '', from = nid, reason = 'idle'})
        n = n + 1
      end
    end
  end
end
return n
`;

interface Scripts {
  islbTrackSessions(...args: (string | number)[]): Promise<number[]>;
  islbSweepSessions(...args: (string | number)[]): Promise<number>;
}

/** One placement to track. */
interface Track {
  readonly key: string;
  readonly service: string;
  readonly sid: string;
  readonly nid: string;
  readonly deadline: number;
  /** Announce it "placed" (a new placement, not a move or a re-learnt one). */
  readonly isNew: boolean;
}

/** Due members handled per shard per sweep. */
const SWEEP_BATCH = 500;

/** How often each shard is swept. */
const SWEEP_EVERY_MS = 1000;

export class RedisSessionExpiry {
  private readonly cmd: Redis & Scripts;
  private readonly tracks: Array<TurnBatch<Track, number>>;
  private lastSweep = 0;

  constructor(
    private readonly conn: RedisConnection,
    private readonly feed: ChangeTail,
    private readonly streamLength: number,
  ) {
    this.cmd = conn.cmd as unknown as Redis & Scripts;
    this.cmd.defineCommand("islbTrackSessions", { numberOfKeys: 4, lua: TRACK });
    this.cmd.defineCommand("islbSweepSessions", { numberOfKeys: 4, lua: SWEEP });
    this.tracks = feed.layout.shards.map((k, s) => this.batch(k, s));
  }

  private batch(k: RedisKeys, s: number): TurnBatch<Track, number> {
    const { idle, nids } = idleKeys(k);
    return new TurnBatch(
      async (ts) => {
        const args: (string | number)[] = [this.streamLength, this.feed.seed(Date.now())];
        for (const t of ts) args.push(t.key, t.service, t.sid, t.nid, t.deadline, t.isNew ? "1" : "0");
        const revs = await this.conn.guard(this.cmd.islbTrackSessions(idle, nids, k.events, k.rev, ...args));
        return ts.map((t, i) => {
          const rev = Number(revs[i] ?? 0);
          if (rev > 0)
            this.feed.applyOwnSession(s, rev, {
              type: "placed",
              service: t.service,
              sid: t.sid,
              nid: t.nid,
              from: "",
              reason: "new",
            });
          return rev;
        });
        // One call out at a time: the placements that come meanwhile go together in the next one.
      },
      256,
      1,
      Infinity,
    );
  }

  private key(service: string, sid: string): string {
    return sessionKey(this.feed.layout.shards[this.feed.layout.of(service)] as RedisKeys, service, sid);
  }

  /** Tracks a placement this instance made or re-learnt (`isNew`: also announces it "placed"). */
  track(service: string, sid: string, nid: string, idleMs: number, isNew: boolean): Promise<number> {
    const s = this.feed.layout.of(service);
    return (this.tracks[s] as TurnBatch<Track, number>).send({
      key: this.key(service, sid),
      service,
      sid,
      nid,
      deadline: Date.now() + idleMs,
      isNew,
    });
  }

  /** Announces the placements that ended idle (about once a second; every shard). */
  async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    await Promise.all(
      this.feed.layout.shards.map((k) => {
        const { idle, nids } = idleKeys(k);
        return this.conn.guard(
          this.cmd.islbSweepSessions(
            idle,
            nids,
            k.events,
            k.rev,
            this.streamLength,
            this.feed.seed(now),
            now,
            SWEEP_BATCH,
            k.session,
          ),
        );
      }),
    );
  }
}
