/**
 * The Redis store's session placements: one script per lookup (PLACE) that returns the
 * session's node when it is alive, SERVING and of the service, or places the session on the
 * calling instance's candidate when Redis agrees it can take it; and RELEASE.
 */
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { SessionStore } from "./types.js";
import type { Placement, ReleaseResult, SessionHost } from "./model.js";

/** Candidates tried per placement when Redis knows better than this instance's view. */
const ATTEMPTS = 4;

export class RedisSessions implements SessionStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly k: RedisKeys,
  ) {}

  private key(service: string, sid: string): string {
    // A service name cannot contain ".", so "<service>.<sid>" is unambiguous.
    return `${this.k.session}${service}.${sid}`;
  }

  async placeSession(service: string, sid: string, candidate: () => string | undefined, idleMs: number): Promise<Placement | undefined> {
    const key = this.key(service, sid);
    const tried = new Set<string>();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let cand = candidate();
      if (cand !== undefined && tried.has(cand)) cand = undefined;
      const [code, nid] = await this.conn.guard(this.conn.cmd.islbPlace(key, this.k.node + (cand ?? ""), this.k.node, cand ?? "", idleMs, Date.now(), service));
      if (code === 0) return { nid, placed: false };
      if (code === 1) return { nid, placed: true };
      if (code === -1) return undefined;
      // -2: our view is behind Redis about the candidate; try another.
      if (cand !== undefined) tried.add(cand);
    }
    return undefined;
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    return (await this.conn.guard(this.conn.cmd.get(this.key(service, sid)))) ?? undefined;
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const r = await this.conn.guard(this.conn.cmd.islbRelease(this.key(service, sid), this.k.node, host?.nid ?? "", host?.token ?? ""));
    return r === 1 ? "released" : r === 0 ? "none" : "refused";
  }
}
