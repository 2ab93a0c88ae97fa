/**
 * The Lua scripts of the Redis store: each write is one atomic script that changes the node,
 * bumps the revision and appends the change to the event stream (entry ID = revision), so
 * the stream is the exact order of changes. Every key of a call shares one hash tag (its shard's: redis-layout.ts).
 * Layout: docs/REDIS.md.
 */

/** Shared prelude: the revision (seeded from the clock when missing) and the append to the stream. */
const PRELUDE = `
local function nextrev(revk, nowus)
  if redis.call('EXISTS', revk) == 0 then redis.call('SET', revk, nowus) end
  return redis.call('INCR', revk)
end
-- A change entry: its type and record, and, when load-only heartbeats wrote them since the
-- record, the node's load, lease end and lease (fields l, x, m), which override the record's.
local function emit(events, revk, maxlen, nowus, t, rec, load, exp, lms)
  local rev = nextrev(revk, nowus)
  -- Lua numbers are doubles: format the revision as an integer, not as 1.7e+15.
  local id = string.format('%d-0', rev)
  if load then
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, id, 't', t, 'r', rec, 'l', load, 'x', exp, 'm', lms or '0')
  else
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, id, 't', t, 'r', rec)
  end
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
local cur = redis.call('HMGET', node, 'token', 'exp', 'state', 'rec', 'load', 'lms')
local typ = 'up'
if cur[1] then
  if tonumber(cur[2]) <= tonumber(now) then
    emit(events, revk, maxlen, nowus, 'expired', cur[4], cur[5], cur[2], cur[6])
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
-- kx and zs: when the key expires and the lease's score, as set here (see HEARTBEATS).
redis.call('HSET', node, 'token', token, 'exp', exp, 'state', state, 'service', service, 'rec', rec,
  'kx', string.format('%d', tonumber(now) + tonumber(ttl)), 'zs', exp)
-- The record is whole again: what load-only heartbeats wrote is in it.
if cur[5] then redis.call('HDEL', node, 'load', 'lms') end
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
local cur = redis.call('HMGET', node, 'token', 'rec', 'load', 'exp', 'lms')
if not cur[1] then return {-2} end
if cur[1] ~= ARGV[2] then return {-1} end
redis.call('DEL', node)
redis.call('SREM', nodes, ARGV[1])
redis.call('ZREM', leases, ARGV[1])
return {emit(events, revk, ARGV[3], ARGV[4], 'down', cur[2], cur[3], cur[4], cur[5])}
`;

/**
 * Ends a lapsed lease (any instance may try; one succeeds). KEYS: node, nodes, leases,
 * events, rev. ARGV: nid, now, maxlen, nowus, fallback record. Returns {rev} or {0}.
 */
export const EXPIRE = `${PRELUDE}
local node, nodes, leases, events, revk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cur = redis.call('HMGET', node, 'exp', 'rec', 'load', 'lms')
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
return {emit(events, revk, ARGV[3], ARGV[4], 'expired', rec, cur[2] and cur[3], cur[1], cur[4])}
`;

/**
 * Heartbeats that change only load and lease, several nodes in one call. KEYS: leases, events,
 * rev. ARGV: maxlen, now, nowus, key grace ms, node key prefix, the batch's stream body, then
 * each node's token, in the body's order. The body is the stream entry's: "nid load exp lms"
 * per heartbeat, space-separated (node ids, base64 and numbers have no spaces; "-" is an empty
 * load), so the caller sends one string for the batch and one token per heartbeat, not seven
 * arguments each. A node's key is built from the prefix (it shares the hash tag: the same
 * slot). Writes only the node's `exp`, `load` and `lms` (the record stays as it was) and,
 * when due, its key's TTL and its lease in `leases` (kx and zs: below). The accepted
 * heartbeats take consecutive revisions and go to the stream as ONE entry (ID: the first
 * revision; t = loads, b = the body, without the refused ones), so a reader parses one entry
 * per call, not one per node.
 * Returns, per node, its revision, or -1 (token mismatch), -2 (unknown), -3 (its lease had
 * lapsed): those go to UPSERT, which decides them.
 *
 * Not every heartbeat renews the key's TTL and the lease's score, each a command on Redis:
 * - `kx`, in the hash, is when the key expires as last set (now + lms + grace, by UPSERT or
 *   here). The TTL is renewed (to lms + grace) unless the key outlives the new lease by at
 *   least grace/2 (kx >= exp + grace/2) and kx is no later than the stored lease end + grace
 *   (a writer that sets the TTL without kx, an older version, sets it to that). A key thus
 *   outlives its lease by grace/2 to grace (and a shortened lease by up to the longer one's
 *   end + grace); instances' clocks must agree within grace/2.
 * - `zs`, in the hash, is the lease's score in `leases` as last set. The sweep takes a node
 *   whose score has passed and EXPIRE re-scores it when its lease still holds, so a score may
 *   lag the lease but must not pass it. It is kept while it is no later than the new and the
 *   stored lease end and more than lms/2 away (a node heartbeating every lms/3 re-scores
 *   every other heartbeat; a live node's score is never reached).
 */
export const HEARTBEATS = `
local leases, events, revk = KEYS[1], KEYS[2], KEYS[3]
local maxlen, now, nowus, grace, prefix, body = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local out, ok, n = {}, {}, 0
-- Checked and written in one pass (the revisions are only known, and given, after it).
for nid, load, exp, lms in string.gmatch(body, '(%S+) (%S+) (%S+) (%S+)') do
  n = n + 1
  local key = prefix .. nid
  local cur = redis.call('HMGET', key, 'token', 'exp', 'kx', 'zs')
  local was = tonumber(cur[2])
  if not cur[1] then
    out[n] = -2
  elseif cur[1] ~= ARGV[6 + n] then
    out[n] = -1
  elseif was <= now then
    out[n] = -3
  else
    ok[#ok + 1] = n
    if load == '-' then load = '' end
    local e, ms, kx, zs = tonumber(exp), tonumber(lms), tonumber(cur[3]), tonumber(cur[4])
    local ttl = kx == nil or kx < e + grace / 2 or kx > was + grace
    local score = zs == nil or zs > e or zs > was or zs <= now + ms / 2
    if ttl then
      redis.call('PEXPIRE', key, string.format('%d', ms + grace))
      local k = string.format('%d', now + ms + grace)
      if score then
        redis.call('HSET', key, 'exp', exp, 'load', load, 'lms', lms, 'kx', k, 'zs', exp)
      else
        redis.call('HSET', key, 'exp', exp, 'load', load, 'lms', lms, 'kx', k)
      end
    elseif score then
      redis.call('HSET', key, 'exp', exp, 'load', load, 'lms', lms, 'zs', exp)
    else
      redis.call('HSET', key, 'exp', exp, 'load', load, 'lms', lms)
    end
    if score then redis.call('ZADD', leases, exp, nid) end
  end
end
if #ok == 0 then return out end
if redis.call('EXISTS', revk) == 0 then redis.call('SET', revk, nowus) end
local first = redis.call('INCRBY', revk, #ok) - #ok + 1
for j, i in ipairs(ok) do out[i] = first + j - 1 end
if #ok < n then
  -- Some were refused: the entry names only the written ones.
  local words, j, i = {}, 1, 0
  for w in string.gmatch(body, '%S+ %S+ %S+ %S+') do
    i = i + 1
    if ok[j] == i then
      words[j] = w
      j = j + 1
    end
  end
  body = table.concat(words, ' ')
end
-- Lua numbers are doubles: format the revision as an integer, not as 1.7e+15.
redis.call('XADD', events, 'MAXLEN', '~', maxlen, string.format('%d-0', first), 't', 'loads', 'b', body)
return out
`;

/** Entries kept in the session-change stream (approximately): only a moment's worth is ever read. */
const SESSION_STREAM_LEN = 10000;

/**
 * A session's node, or its placement on the candidate, in one step (the Lua function of
 * PLACES). An operator's mark ('nonew', redis-mark-scripts.ts) keeps the candidate from taking
 * it, and a drain ('d') its host from keeping it. Arguments: session key, candidate node key,
 * session-change stream, node key prefix,
 * candidate nid ('' for none), idle ms, now, service. Replacing an existing placement is
 * appended to the session-change stream (so instances that answer known sessions from memory
 * drop theirs). The hosting node's key is built from the prefix: it shares the hash tag, so
 * the same slot. Returns 0, nid (already hosted), 1, nid, the previous host or '' (placed),
 * -1, '' (no candidate), -2, '' (the candidate cannot take it), each with a third value ('' but when placed).
 */
const PLACE_ONE = `
local function place(skey, ckey, changes, prefix, cand, idle, now, service)
  local cur = redis.call('GET', skey)
  if cur then
    local st = redis.call('HMGET', prefix .. cur, 'state', 'exp', 'service', 'nonew')
    if st[1] and tonumber(st[1]) == 1 and tonumber(st[2]) > now and st[3] == service and st[4] ~= 'd' then
      redis.call('PEXPIRE', skey, idle)
      return 0, cur, ''
    end
  end
  if cand == '' then return -1, '', '' end
  local st = redis.call('HMGET', ckey, 'state', 'exp', 'service', 'nonew')
  if not st[1] or tonumber(st[1]) ~= 1 or tonumber(st[2]) <= now or st[3] ~= service or st[4] then return -2, '', '' end
  redis.call('SET', skey, cand, 'PX', idle)
  if cur then redis.call('XADD', changes, 'MAXLEN', '~', ${SESSION_STREAM_LEN}, '*', 'k', skey) end
  return 1, cand, cur or ''
end
`;

/**
 * The placements of one turn of the event loop, in order (two of the same session: the first
 * places it, the second gets that node). KEYS: session-change stream. ARGV: node key prefix,
 * now, then the placements, one string: per placement its session key, candidate nid ('' for
 * none), idle ms and service, each followed by \x1f, and \x1e after each placement (a session
 * id has no control character, the rest no space either). Session and candidate keys share the
 * stream's hash tag (the same slot): the candidate's is built from the prefix. Returns
 * {code, nid, previous host} per placement, flattened.
 */
export const PLACES = `${PLACE_ONE}
local out = {}
local prefix, now = ARGV[1], tonumber(ARGV[2])
for skey, cand, idle, service in string.gmatch(ARGV[3], '([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31\\30') do
  local code, nid, from = place(skey, prefix .. cand, KEYS[1], prefix, cand, idle, now, service)
  out[#out + 1] = code
  out[#out + 1] = nid
  out[#out + 1] = from
end
return out
`;

/**
 * Every node and the revision, at one instant. KEYS: nodes, rev. ARGV: node key prefix, now
 * in µs (seeds the revision when there is none, so a view always starts from a real one).
 * Returns the revision, then four per node: its record, and its load, lease end and lease
 * written by load-only heartbeats since ('' when none).
 * At start-up and after a gap in the stream only: it reads every node.
 */
export const SNAPSHOT = `
redis.call('SET', KEYS[2], ARGV[2], 'NX')
local out = {redis.call('GET', KEYS[2])}
for _, nid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HMGET', ARGV[1] .. nid, 'rec', 'load', 'exp', 'lms')
  if r[1] then
    table.insert(out, r[1])
    table.insert(out, r[2] or '')
    table.insert(out, r[3] or '')
    table.insert(out, r[4] or '')
  end
end
return out
`;

/**
 * Forgets a session's placement. KEYS: session, session-change stream, the session's node set
 * (redis-session-sets.ts), the shard's idle tracking and its nodes (redis-session-expiry.ts).
 * ARGV: node key prefix,
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
-- With it, in the same step: the session's node set, and its idle tracking (session events
-- "all"), so that no sweep can find the session gone and announce it expired after its release.
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], KEYS[1])
redis.call('HDEL', KEYS[5], KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${SESSION_STREAM_LEN}, '*', 'k', KEYS[1])
return 1
`;
