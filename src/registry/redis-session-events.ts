/**
 * The Redis store's session events (moves, releases): one script takes the next revision and
 * appends the change to the event stream (type `session`, field `s`: the change as JSON), so
 * every instance's tail hands it to its view in order with the node changes.
 */
import type { Redis } from "ioredis";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { SessionChangeInput, SessionEvent } from "./model.js";

/** KEYS: events, rev. ARGV: maxlen, now µs, the change (JSON). Returns the revision. */
export const NOTE_SESSION = `
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[2], ARGV[2]) end
local rev = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('%d-0', rev), 't', 'session', 's', ARGV[3])
return rev
`;

interface NoteScript {
  islbNoteSession(...args: (string | number)[]): Promise<number>;
}

const defined = new WeakSet<object>();

/** Appends a session change; resolves with its revision. */
export async function noteSession(
  conn: RedisConnection,
  k: RedisKeys,
  streamLength: number,
  seed: number,
  change: SessionChangeInput,
): Promise<number> {
  const cmd = conn.cmd as unknown as Redis & NoteScript;
  if (!defined.has(cmd)) {
    cmd.defineCommand("islbNoteSession", { numberOfKeys: 2, lua: NOTE_SESSION });
    defined.add(cmd);
  }
  const json = JSON.stringify({
    type: change.type,
    service: change.service,
    sid: change.sid,
    nid: change.nid,
    from: change.from,
    reason: change.reason,
  });
  return Number(await conn.guard(cmd.islbNoteSession(k.events, k.rev, streamLength, seed, json)));
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** A session change from its stream entry, or undefined when it is not one. */
export function parseSessionEvent(revision: number, json: string): SessionEvent | undefined {
  try {
    const o = JSON.parse(json) as Record<string, unknown>;
    if (
      o.type !== "moved" &&
      o.type !== "released" &&
      o.type !== "expanded" &&
      o.type !== "placed" &&
      o.type !== "expired"
    )
      return undefined;
    return {
      type: o.type,
      revision,
      service: str(o.service),
      sid: str(o.sid),
      nid: str(o.nid),
      from: str(o.from),
      reason: str(o.reason),
    };
  } catch {
    return undefined;
  }
}
