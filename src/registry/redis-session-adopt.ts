/**
 * The Redis store's re-learning of the placements a node reports (heartbeats' sessions), by the
 * rule of session-adopt.ts, in one script per report: atomic against every PLACES and RELEASE
 * of any instance. A session placed nowhere (a wiped Redis) is placed on the reporter; one on
 * the reporter is renewed; one on another node that keeps it stays (a conflict); one on a node
 * that cannot keep it moves to the reporter and is appended to the session-change stream (so
 * instances answering it from memory drop theirs).
 */
import type { Redis } from "ioredis";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import { sessionKey } from "./redis-layout.js";
import type { Adoption, AdoptOutcome } from "./model.js";

/** Entries kept in the session-change stream (approximately), as the other session scripts. */
const SESSION_STREAM_LEN = 10000;

/**
 * KEYS: session-change stream, the reporter's node key, then each session's key. ARGV: node key
 * prefix, now, idle ms, service, reporter nid. Returns two per session: a code (a adopted,
 * k kept, m moved, c conflict, r refused) and the node hosting it after (the previous host for m).
 * "Can keep" is PLACES' test: SERVING, lease not over, of the service, not drained ('d').
 */
export const ADOPT = `
local prefix, now, idle, service, me = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local function keeps(key)
  local st = redis.call('HMGET', key, 'state', 'exp', 'service', 'nonew')
  return st[1] ~= false and tonumber(st[1]) == 1 and tonumber(st[2]) > now and st[3] == service and st[4] ~= 'd'
end
local mine = keeps(KEYS[2])
local out = {}
for i = 3, #KEYS do
  local skey = KEYS[i]
  local code, nid = 'r', ''
  if mine then
    local cur = redis.call('GET', skey)
    if not cur then
      redis.call('SET', skey, me, 'PX', idle)
      code, nid = 'a', me
    elseif cur == me then
      redis.call('PEXPIRE', skey, idle)
      code, nid = 'k', me
    elseif keeps(prefix .. cur) then
      code, nid = 'c', cur
    else
      redis.call('SET', skey, me, 'PX', idle)
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ${SESSION_STREAM_LEN}, '*', 'k', skey)
      code, nid = 'm', cur
    end
  end
  out[#out + 1] = code
  out[#out + 1] = nid
end
return out
`;

interface AdoptScript {
  islbAdopt(...args: (string | number)[]): Promise<string[]>;
}

const defined = new WeakSet<object>();

const OUTCOMES: Record<string, AdoptOutcome> = {
  a: "adopted",
  k: "kept",
  m: "moved",
  c: "conflict",
  r: "refused",
};

/** Sessions per script call: a long report is cut so that one script never holds Redis for long. */
const CHUNK = 500;

/** Re-learns `sids` of `service` reported by `nid` (see ADOPT); `k`: the keys of the service's shard. */
export async function adoptSessions(
  conn: RedisConnection,
  k: RedisKeys,
  service: string,
  nid: string,
  sids: readonly string[],
  idleMs: number,
): Promise<Adoption[]> {
  const cmd = conn.cmd as unknown as Redis & AdoptScript;
  if (!defined.has(cmd)) {
    cmd.defineCommand("islbAdopt", { lua: ADOPT });
    defined.add(cmd);
  }
  const out: Adoption[] = [];
  for (let at = 0; at < sids.length; at += CHUNK) {
    const part = sids.slice(at, at + CHUNK);
    const keys = [k.sessionChanges, k.node + nid, ...part.map((sid) => sessionKey(k, service, sid))];
    const flat = await conn.guard(cmd.islbAdopt(keys.length, ...keys, k.node, Date.now(), idleMs, service, nid));
    part.forEach((sid, i) => {
      const outcome = OUTCOMES[String(flat[2 * i])] ?? "refused";
      const who = String(flat[2 * i + 1] ?? "");
      out.push(outcome === "moved" ? { sid, outcome, nid, from: who } : { sid, outcome, nid: who });
    });
  }
  return out;
}
