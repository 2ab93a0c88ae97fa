/**
 * The Redis store's session node sets (FindNodeRequest.overflow): one string per session,
 * `<session key prefix>.<service>.<sid>` (a service has no ".", so no session key begins with
 * one), holding `<revision> <nid> <nid>...`, with the session's idle time as its TTL. Read and
 * renewed by one script, written by a compare-and-set script on the revision: every caller
 * through any instance reads the same set in the same order. Released with the session.
 */
import type { Redis } from "ioredis";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { SessionSet } from "./model.js";

/** KEYS: the set. ARGV: idle ms. Returns the value ('' when none), renewed. */
export const SET_READ = `
local v = redis.call('GET', KEYS[1])
if not v then return '' end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v
`;

/** KEYS: the set. ARGV: expected revision, nodes (space-separated), idle ms. Returns the new revision, or -1 (stale). */
export const SET_WRITE = `
local v = redis.call('GET', KEYS[1])
local rev = 0
if v then rev = tonumber(string.match(v, '^(%d+)')) or 0 end
if rev ~= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[1], string.format('%d', rev + 1) .. ' ' .. ARGV[2], 'PX', ARGV[3])
return rev + 1
`;

/** The key of a session's node set, in the keys of its service's shard (RELEASE deletes it with the session). */
export const setKey = (k: RedisKeys, service: string, sid: string): string => `${k.session}.${service}.${sid}`;

interface SetScripts {
  islbSetRead(...args: (string | number)[]): Promise<string>;
  islbSetWrite(...args: (string | number)[]): Promise<number>;
}

const defined = new WeakSet<object>();

export class RedisSessionSets {
  private readonly cmd: Redis & SetScripts;

  /** @param keysOf the keys of a service's shard (the set lives beside the session's key) */
  constructor(
    private readonly conn: RedisConnection,
    private readonly keysOf: (service: string) => RedisKeys,
  ) {
    this.cmd = conn.cmd as unknown as Redis & SetScripts;
    if (!defined.has(this.cmd)) {
      this.cmd.defineCommand("islbSetRead", { numberOfKeys: 1, lua: SET_READ });
      this.cmd.defineCommand("islbSetWrite", { numberOfKeys: 1, lua: SET_WRITE });
      defined.add(this.cmd);
    }
  }

  private key(service: string, sid: string): string {
    return setKey(this.keysOf(service), service, sid);
  }

  async sessionSet(service: string, sid: string, idleMs: number): Promise<SessionSet | undefined> {
    const v = await this.conn.guard(this.cmd.islbSetRead(this.key(service, sid), idleMs));
    if (v === "") return undefined;
    const [rev, ...nodes] = v.split(" ");
    return { nodes, revision: Number(rev) };
  }

  async writeSessionSet(
    service: string,
    sid: string,
    nodes: readonly string[],
    ifRevision: number,
    idleMs: number,
  ): Promise<SessionSet | undefined> {
    const rev = Number(
      await this.conn.guard(this.cmd.islbSetWrite(this.key(service, sid), ifRevision, nodes.join(" "), idleMs)),
    );
    return rev < 0 ? undefined : { nodes: [...nodes], revision: rev };
  }
}
