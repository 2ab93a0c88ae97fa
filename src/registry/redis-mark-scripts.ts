/**
 * The Redis store's scripts for operators' marks (cordon, drain). A mark lives in its node's
 * hash, in fields the node's own writes never set ('mark': the NodeMark message in base64,
 * 'nonew': 'c' cordoned or 'd' draining, read by PLACE; 'markat': when it was set), so a
 * heartbeat through any instance keeps it, and the node's key going (deregistered, expired)
 * takes it along. A change is appended to the event stream like every node change, with the
 * mark ('mk') and who and why ('by', 'why'), and the node's load, lease end and lease ('l', 'x',
 * 'm') when load-only heartbeats wrote them since its record.
 */
import type { Redis } from "ioredis";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import { decodeMark } from "./marks.js";
import type { NodeMark } from "./model.js";

/**
 * Sets or clears a live node's mark. KEYS: node, events, rev. ARGV: nid, owner token ('' for
 * none), mark ('' clears), nonew ('c' / 'd'), change type, maxlen, now µs, if-marked-at ('' for
 * none, '0' for unmarked), now ms, by, why, marked at ('<at>' or '<at>-drained'). Returns {rev}, {-1} (token), {-2}
 * (unknown or lapsed), {-3} (stale).
 */
export const MARK = `
local node, events, revk = KEYS[1], KEYS[2], KEYS[3]
local cur = redis.call('HMGET', node, 'token', 'exp', 'rec', 'markat', 'load', 'lms')
if not cur[1] or tonumber(cur[2]) <= tonumber(ARGV[9]) then return {-2} end
if ARGV[2] ~= '' and cur[1] ~= ARGV[2] then return {-1} end
if ARGV[8] ~= '' and (cur[4] or '0') ~= ARGV[8] then return {-3} end
if ARGV[3] == '' then
  redis.call('HDEL', node, 'mark', 'nonew', 'markat')
else
  redis.call('HSET', node, 'mark', ARGV[3], 'nonew', ARGV[4], 'markat', ARGV[12])
end
if redis.call('EXISTS', revk) == 0 then redis.call('SET', revk, ARGV[7]) end
local rev = redis.call('INCR', revk)
local id = string.format('%d-0', rev)
if cur[5] then
  redis.call('XADD', events, 'MAXLEN', '~', ARGV[6], id, 't', ARGV[5], 'r', cur[3], 'l', cur[5], 'x', cur[2], 'm', cur[6] or '0', 'mk', ARGV[3], 'by', ARGV[10], 'why', ARGV[11])
else
  redis.call('XADD', events, 'MAXLEN', '~', ARGV[6], id, 't', ARGV[5], 'r', cur[3], 'mk', ARGV[3], 'by', ARGV[10], 'why', ARGV[11])
end
return {rev}
`;

/** The marks of every node. KEYS: nodes. ARGV: node key prefix. Returns {nid, mark, ...}. */
export const MARKS = `
local out = {}
for _, nid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local m = redis.call('HGET', ARGV[1] .. nid, 'mark')
  if m then table.insert(out, nid) table.insert(out, m) end
end
return out
`;

/** The mark scripts as commands. */
export interface MarkScripts {
  islbMark(...args: (string | number)[]): Promise<[number]>;
  islbMarks(...args: (string | number)[]): Promise<string[]>;
}

const defined = new WeakSet<object>();

/** The command connection with the mark scripts defined on it (once). */
export function markCommands(conn: RedisConnection): MarkScripts {
  const cmd = conn.cmd as unknown as Redis & MarkScripts;
  if (!defined.has(cmd)) {
    cmd.defineCommand("islbMark", { numberOfKeys: 3, lua: MARK });
    cmd.defineCommand("islbMarks", { numberOfKeys: 1, lua: MARKS });
    defined.add(cmd);
  }
  return cmd;
}

/** Every node's mark (at start-up and after a gap in the stream, beside the snapshot). */
export async function readMarks(conn: RedisConnection, k: RedisKeys): Promise<Map<string, NodeMark>> {
  const flat = await markCommands(conn).islbMarks(k.nodes, k.node);
  const out = new Map<string, NodeMark>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const m = decodeMark(flat[i + 1]);
    if (m !== undefined) out.set(flat[i] as string, m);
  }
  return out;
}
