/**
 * The Redis store's session placements. A new session (or one whose host cannot keep it) is
 * placed by a script (PLACES, the placements of one turn of the event loop in calls of at
 * most 64, in order: turn-batch.ts) on the calling instance's candidate when Redis agrees it
 * can take it: two instances placing at once get the same node. A known session is answered from what
 * this instance learnt from Redis, without a round trip, while that still holds: its node
 * alive, SERVING and of the service in this instance's view, its idle time not over (renewed
 * in Redis in the background), and no release or re-placement of it seen on the
 * session-change stream; otherwise PLACES again. Changes made through other instances reach
 * this one within the stream's delivery delay. RELEASE forgets a placement.
 */
import type { Placement, ReleaseResult, SessionHost } from "./model.js";
import { PlacementCache } from "./placement-cache.js";
import { setKey } from "./redis-session-sets.js";
import { sessionKey } from "./redis-layout.js";
import { idleKeys } from "./redis-session-expiry.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeTail } from "./redis-tail.js";
import type { SessionStore } from "./types.js";
import { trace } from "@opentelemetry/api";
import { inSpan } from "../tracing/tracer.js";
import { TurnBatch } from "./turn-batch.js";
import { adoptSessions } from "./redis-session-adopt.js";
import type { Adoption } from "./model.js";

/** One placement, as PLACES takes it. */
interface PlaceRequest {
  /** The session's key (in its service's shard). */
  readonly key: string;
  /** The candidate's nid ('' for none). */
  readonly cand: string;
  readonly idleMs: number;
  readonly service: string;
}

/** What PLACES separates fields and placements with. */
const SEPARATORS = /[\x1e\x1f]/;

/** Candidates tried per placement when Redis knows better than this instance's view. */
const ATTEMPTS = 4;

/** A known session's idle time is renewed in Redis at most this often (a fraction of it, at least 1 s). */
const renewEvery = (idleMs: number): number => Math.max(1000, idleMs / 20);

export class RedisSessions implements Omit<SessionStore, "noteSession"> {
  private readonly cache: PlacementCache;
  /** Per shard: the placements of one turn, in one PLACES call. */
  private readonly places: Array<TurnBatch<PlaceRequest, [number, string, string]>>;

  constructor(
    private readonly conn: RedisConnection,
    private readonly feed: ChangeTail,
    cacheSize?: number,
  ) {
    this.cache = new PlacementCache(cacheSize);
    this.places = feed.layout.shards.map((k) => this.batch(k));
    feed.onSessionChange((key) => this.cache.delete(key));
    // A reloaded view (wiped or trimmed store) may come with lost placements: learn them again.
    feed.view.onResync(() => this.cache.clear());
  }

  /** The keys of a service's shard. */
  private keysOf(service: string): RedisKeys {
    return this.feed.layout.shards[this.feed.layout.of(service)] as RedisKeys;
  }

  private batch(k: RedisKeys): TurnBatch<PlaceRequest, [number, string, string]> {
    const conn = this.conn;
    return new TurnBatch(async (qs) => {
      // One argument for all of them (PLACES): fields end with \x1f, placements with \x1e.
      let all = "";
      for (const q of qs) all += `${q.key}\x1f${q.cand}\x1f${q.idleMs}\x1f${q.service}\x1f\x1e`;
      const flat = await conn.guard(conn.cmd.islbPlaces(1, k.sessionChanges, k.node, Date.now(), all));
      return qs.map(
        (_, i) =>
          [Number(flat[3 * i]), String(flat[3 * i + 1] ?? ""), String(flat[3 * i + 2] ?? "")] as [
            number,
            string,
            string,
          ],
      );
    });
  }

  private key(service: string, sid: string): string {
    return sessionKey(this.keysOf(service), service, sid);
  }

  /** The known placement of `key`, when it still holds by this instance's view. */
  private known(key: string, service: string, now: number, idleMs: number): string | undefined {
    const e = this.cache.get(key, now);
    if (e === undefined) return undefined;
    // Read from the view's columns (no record made: the node may be any of many).
    const t = this.feed.view.table;
    const s = t.slotOf(e.nid);
    if (s === undefined || !t.keepsSessions(s, service) || t.expiresAt(s) <= now) {
      this.cache.delete(key);
      return undefined;
    }
    if (now - e.renewedAt >= renewEvery(idleMs)) {
      e.renewedAt = now;
      e.until = now + idleMs;
      // A renewal that fails makes this instance ask Redis next time.
      this.conn.cmd.pexpire(key, idleMs).then(
        (ok) => {
          if (ok !== 1) this.cache.delete(key);
        },
        () => this.cache.delete(key),
      );
    }
    return e.nid;
  }

  async placeSession(
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    const key = this.key(service, sid);
    const now = Date.now();
    const nid = this.known(key, service, now, idleMs);
    if (nid !== undefined) return { nid, placed: false };
    // A span per round trip, under the call's span when that one is recorded (no span to make
    // otherwise: with no SDK, or the call not sampled, it would not be recorded either).
    if (trace.getActiveSpan()?.isRecording() !== true) return this.place(key, service, candidate, idleMs, now, onMoved);
    return inSpan(
      "islb.redis.place",
      { "db.system": "redis", "db.operation": "PLACE", "islb.service": service, "islb.sid": sid },
      async (span) => {
        const p = await this.place(key, service, candidate, idleMs, now, onMoved);
        span.setAttribute("islb.nid", p?.nid ?? "");
        span.setAttribute("islb.placed", p?.placed ?? false);
        return p;
      },
    );
  }

  private async place(
    key: string,
    service: string,
    candidate: () => string | undefined,
    idleMs: number,
    now: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    // PLACES separates its fields with \x1f and \x1e (islb refuses session ids with control characters).
    if (SEPARATORS.test(key)) throw new Error("a session id must not contain control characters");
    const tried = new Set<string>();
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let cand = candidate();
      if (cand !== undefined && tried.has(cand)) cand = undefined;
      const batch = this.places[this.feed.layout.of(service)] as TurnBatch<PlaceRequest, [number, string, string]>;
      const [code, nid, from] = await batch.send({ key, cand: cand ?? "", idleMs, service });
      if (code === 0 || code === 1) {
        this.cache.set(key, nid, now, idleMs);
        if (code === 1 && onMoved !== undefined && from !== "" && from !== nid) onMoved(from);
        return { nid, placed: code === 1 };
      }
      if (code === -1) return undefined;
      // -2: our view is behind Redis about the candidate; try another.
      if (cand !== undefined) tried.add(cand);
    }
    return undefined;
  }

  /** Re-learns reported placements (redis-session-adopt.ts); what the script placed on or renewed for the reporter is known here. */
  async adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]> {
    const out = await adoptSessions(this.conn, this.keysOf(service), service, nid, sids, idleMs);
    const now = Date.now();
    for (const a of out)
      if (a.outcome !== "refused" && a.outcome !== "conflict")
        this.cache.set(this.key(service, a.sid), a.nid, now, idleMs);
    return out;
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    return (await this.conn.guard(this.conn.cmd.get(this.key(service, sid)))) ?? undefined;
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const key = this.key(service, sid);
    const k = this.keysOf(service);
    const idle = idleKeys(k);
    const r = await this.conn.guard(
      this.conn.cmd.islbRelease(
        key,
        k.sessionChanges,
        setKey(k, service, sid),
        idle.idle,
        idle.nids,
        k.node,
        host?.nid ?? "",
        host?.token ?? "",
      ),
    );
    if (r === 1) this.cache.delete(key);
    return r === 1 ? "released" : r === 0 ? "none" : "refused";
  }
}
