/**
 * The Lua scripts of the Redis store: each write is one atomic script that changes the node,
 * bumps the revision and appends the change to the event stream (entry ID = revision), so
 * the stream is the exact order of changes. Every key shares the hash tag {islb}.
 * Layout: docs/REDIS.md.
 */

/** Shared prelude: the revision (seeded from the clock when missing) and the append to the stream. */
const PRELUDE = `
local function nextrev(revk, nowus)
  if redis.call('EXISTS', revk) == 0 then redis.call('SET', revk, nowus) end
  return redis.call('INCR', revk)
end
local function emit(events, revk, maxlen, nowus, t, rec)
  local rev = nextrev(revk, nowus)
  -- Lua numbers are doubles: format the revision as an integer, not as 1.7e+15.
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, string.format('%d-0', rev), 't', t, 'r', rec)
  return rev
end
`;

/**
 * Register or heartbeat. KEYS: node, nodes, leases, events, rev. ARGV: nid, token, rec,
 * state, service, exp, ttl, maxlen, now, nowus, mustexist.
 * Returns {revision, existed} or {-1, 0} (token mismatch) or {-2, 0} (unknown, mustexist).
 */
export const UPSERT = `${PRELUDE}
local node, nodes, leases, events, revk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local nid, token, rec, state, service, exp, ttl, maxlen, now, nowus, mustexist =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local cur = redis.call('HMGET', node, 'token', 'exp', 'state', 'rec')
local typ = 'up'
if cur[1] then
  if tonumber(cur[2]) <= tonumber(now) then
    emit(events, revk, maxlen, nowus, 'expired', cur[4])
    redis.call('DEL', node)
    redis.call('SREM', nodes, nid)
    redis.call('ZREM', leases, nid)
  elseif cur[1] ~= token then
    return {-1, 0}
  elseif tonumber(cur[3]) ~= 2 and tonumber(state) == 2 then
    typ = 'draining'
  else
    typ = 'updated'
  end
end
if typ == 'up' and mustexist == '1' then return {-2, 0} end
redis.call('HSET', node, 'token', token, 'exp', exp, 'state', state, 'service', service, 'rec', rec)
redis.call('PEXPIRE', node, ttl)
redis.call('SADD', nodes, nid)
redis.call('ZADD', leases, exp, nid)
local rev = emit(events, revk, maxlen, nowus, typ, rec)
if typ == 'up' then return {rev, 0} end
return {rev, 1}
`;

/** KEYS: node, nodes, leases, events, rev. ARGV: nid, token, maxlen, nowus. Returns {rev} or {-1} / {-2}. */
export const DEREGISTER = `${PRELUDE}
local node, nodes, leases, events, revk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cur = redis.call('HMGET', node, 'token', 'rec')
if not cur[1] then return {-2} end
if cur[1] ~= ARGV[2] then return {-1} end
redis.call('DEL', node)
redis.call('SREM', nodes, ARGV[1])
redis.call('ZREM', leases, ARGV[1])
return {emit(events, revk, ARGV[3], ARGV[4], 'down', cur[2])}
`;

/**
 * Ends a lapsed lease (any instance may try; one succeeds). KEYS: node, nodes, leases,
 * events, rev. ARGV: nid, now, maxlen, nowus, fallback record. Returns {rev} or {0}.
 */
export const EXPIRE = `${PRELUDE}
local node, nodes, leases, events, revk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cur = redis.call('HMGET', node, 'exp', 'rec')
if cur[1] and tonumber(cur[1]) > tonumber(ARGV[2]) then
  redis.call('ZADD', leases, cur[1], ARGV[1])
  return {0}
end
redis.call('ZREM', leases, ARGV[1])
local member = redis.call('SREM', nodes, ARGV[1])
if not cur[1] and member == 0 then return {0} end
redis.call('DEL', node)
local rec = cur[2] or ARGV[5]
if rec == '' then return {0} end
return {emit(events, revk, ARGV[3], ARGV[4], 'expired', rec)}
`;

/** Entries kept in the session-change stream (approximately): only a moment's worth is ever read. */
const SESSION_STREAM_LEN = 10000;

/**
 * A session's node, or its placement on the candidate, in one step. An operator's mark
 * ('nonew', redis-mark-scripts.ts) keeps the candidate from taking it, and a drain ('d') its host from keeping it. KEYS: session, candidate
 * node, session-change stream. ARGV: node key prefix, candidate nid ('' for none), idle ms,
 * now, service. Replacing an existing placement is appended to the session-change stream (so
 * instances that answer known sessions from memory drop theirs).
 * The hosting node's key is built from the prefix: it shares the hash tag, so the same slot.
 * Returns {0, nid} (already hosted), {1, nid, previous host or ''} (placed), {-1, ''} (no candidate),
 * {-2, ''} (the candidate cannot take it).
 */
export const PLACE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local st = redis.call('HMGET', ARGV[1] .. cur, 'state', 'exp', 'service', 'nonew')
  if st[1] and tonumber(st[1]) == 1 and tonumber(st[2]) > tonumber(ARGV[4]) and st[3] == ARGV[5] and st[4] ~= 'd' then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {0, cur}
  end
end
if ARGV[2] == '' then return {-1, ''} end
local st = redis.call('HMGET', KEYS[2], 'state', 'exp', 'service', 'nonew')
if not st[1] or tonumber(st[1]) ~= 1 or tonumber(st[2]) <= tonumber(ARGV[4]) or st[3] ~= ARGV[5] or st[4] then return {-2, ''} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if cur then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ${SESSION_STREAM_LEN}, '*', 'k', KEYS[1]) end
return {1, ARGV[2], cur or ''}
`;

/**
 * Every node and the revision, at one instant. KEYS: nodes, rev. ARGV: node key prefix, now
 * in µs (seeds the revision when there is none, so a view always starts from a real one).
 * At start-up and after a gap in the stream only: it reads every node.
 */
export const SNAPSHOT = `
redis.call('SET', KEYS[2], ARGV[2], 'NX')
local out = {redis.call('GET', KEYS[2])}
for _, nid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HGET', ARGV[1] .. nid, 'rec')
  if r then table.insert(out, r) end
end
return out
`;

/**
 * Forgets a session's placement. KEYS: session, session-change stream. ARGV: node key prefix,
 * host nid ('' when the caller is an admin), host token. The host's key is built from the
 * prefix (same hash tag). A release is appended to the session-change stream.
 * Returns 1 (released), 0 (nothing placed), -1 (not this host's, or the token is wrong).
 */
export const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if ARGV[2] ~= '' then
  if cur ~= ARGV[2] then return -1 end
  local t = redis.call('HGET', ARGV[1] .. cur, 'token')
  if not t or t ~= ARGV[3] then return -1 end
end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${SESSION_STREAM_LEN}, '*', 'k', KEYS[1])
return 1
`;
