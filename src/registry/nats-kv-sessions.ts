/**
 * The NATS KV store's session placements, in the sessions bucket (key: service and sid; value:
 * until when, and the node). A new session (or one whose host cannot keep it) is placed by a
 * revision-checked write: create-if-absent, or an update of the very entry this instance read,
 * so two instances placing at once get the same node (the loser reads the winner's). Whether a
 * host can keep a session is read from this instance's view (alive, SERVING, of the service).
 * A known session is answered from memory while that holds and its idle time is not over
 * (renewed in the bucket in the background), and no other write of it came on the sessions
 * watch; otherwise the bucket is read again. Concurrent lookups of one session through one
 * instance share one round trip. A release writes a DEL marker, revision-checked too. An
 * operator's mark counts: a marked node takes no new session, a draining one keeps none.
 * Session changes (moves, releases) are entries of the nodes bucket's key `e`, so they take
 * the registry's next revision in order with the node changes and every instance's watch
 * hands them to its view.
 */
import {
  Conflict,
  SESSION_EVENTS_KEY,
  decodeNode,
  decodeSession,
  encodeSession,
  nodeKey,
  sessionKey,
  tokenHash,
  type KvBuckets,
} from "./nats-kv-bucket.js";
import type { KvTail } from "./nats-kv-tail.js";
import { StoreUnavailableError } from "./errors.js";
import {
  keepsSessions,
  type Placement,
  type ReleaseResult,
  type SessionChangeInput,
  type SessionHost,
} from "./model.js";
import { PlacementCache } from "./placement-cache.js";
import type { SessionStore } from "./types.js";
import { inSpan } from "../tracing/tracer.js";
import type { Adoption } from "./model.js";
import { adoptStep, outcomeOf } from "./session-adopt.js";

/** Reads and writes tried per placement when other instances write the same session. */
const ATTEMPTS = 6;

/** Reported sessions re-learnt at once (each is a read and at most a write). */
const ADOPT_PARALLEL = 32;

/** A known session's idle time is renewed in the bucket at most this often (a fraction of it, at least 1 s). */
const renewEvery = (idleMs: number): number => Math.max(1000, idleMs / 20);

export class KvSessions implements SessionStore {
  private readonly cache: PlacementCache;
  private readonly inflight = new Map<string, Promise<Placement | undefined>>();

  constructor(
    private readonly b: KvBuckets,
    private readonly feed: KvTail,
    cacheSize?: number,
  ) {
    this.cache = new PlacementCache(cacheSize);
    feed.onSessionChange((key, e) => {
      const c = this.cache.get(key, Date.now());
      if (c === undefined) return;
      if (e.operation !== "PUT" || decodeSession(e.value)?.nid !== c.nid) this.cache.delete(key);
    });
    feed.view.onResync(() => this.cache.clear());
  }

  /** True when `nid` can keep a session of `service`, by this instance's view (a lease is not lost to an outage of the buckets; a draining mark keeps none). */
  private serving(nid: string, service: string, now: number): boolean {
    const r = this.feed.view.get(nid);
    return (
      r !== undefined &&
      keepsSessions(r) &&
      r.node.service === service &&
      (r.expiresAt > now || this.b.leaseHolds(r.expiresAt, r.leaseMs) > now)
    );
  }

  /** True when `nid` can take a new session of `service`: it could keep one and carries no mark (cordoned, draining). */
  private takes(nid: string, service: string, now: number): boolean {
    return this.serving(nid, service, now) && this.feed.view.get(nid)?.mark === undefined;
  }

  async noteSession(change: SessionChangeInput): Promise<number> {
    const c = {
      type: change.type,
      service: change.service,
      sid: change.sid,
      nid: change.nid,
      from: change.from,
      reason: change.reason,
    };
    const seq = await this.b.write(
      this.b.cfg.bucket,
      SESSION_EVENTS_KEY,
      Buffer.from(JSON.stringify(c), "utf8"),
      undefined,
    );
    return this.feed.applyOwnSession(seq, c);
  }

  private known(key: string, service: string, now: number, idleMs: number): string | undefined {
    const e = this.cache.get(key, now);
    if (e === undefined) return undefined;
    if (!this.serving(e.nid, service, now)) {
      this.cache.delete(key);
      return undefined;
    }
    if (now - e.renewedAt >= renewEvery(idleMs)) {
      e.renewedAt = now;
      e.until = now + idleMs;
      // A renewal that fails (or finds another node) makes this instance read the bucket next time.
      this.renew(key, e.nid, now + idleMs).then(
        (ok) => {
          if (!ok) this.cache.delete(key);
        },
        () => this.cache.delete(key),
      );
    }
    return e.nid;
  }

  private async renew(key: string, nid: string, until: number): Promise<boolean> {
    const e = await this.b.get(this.b.sessions, key);
    if (e === null || e.operation !== "PUT" || decodeSession(e.value)?.nid !== nid) return false;
    await this.b.write(this.b.sessionsBucket, key, encodeSession({ until, nid }), e.revision);
    return true;
  }

  placeSession(
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    const key = sessionKey(service, sid);
    const now = Date.now();
    const nid = this.known(key, service, now, idleMs);
    if (nid !== undefined) return Promise.resolve({ nid, placed: false });
    const pending = this.inflight.get(key);
    if (pending !== undefined)
      return pending.then((p) => (p === undefined ? undefined : { nid: p.nid, placed: false }));
    const p = inSpan(
      "islb.kv.place",
      { "db.system": "nats", "db.operation": "PLACE", "islb.service": service, "islb.sid": sid },
      async (span) => {
        const r = await this.place(key, service, candidate, idleMs, now, onMoved);
        span.setAttribute("islb.nid", r?.nid ?? "");
        span.setAttribute("islb.placed", r?.placed ?? false);
        return r;
      },
    );
    this.inflight.set(key, p);
    const done = (): void => {
      this.inflight.delete(key);
    };
    p.then(done, done);
    return p;
  }

  private async place(
    key: string,
    service: string,
    candidate: () => string | undefined,
    idleMs: number,
    now: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    const tried = new Set<string>();
    // Most sessions asked for without a known placement are new: create-if-absent first, read only when it exists.
    const first = candidate();
    // The candidate a lost create-if-absent picked is still the one to try: candidate() names another node each call.
    let next: string | undefined;
    if (first !== undefined && this.takes(first, service, now)) {
      try {
        await this.b.write(this.b.sessionsBucket, key, encodeSession({ until: now + idleMs, nid: first }), 0);
        this.cache.set(key, first, now, idleMs);
        return { nid: first, placed: true };
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
        next = first;
      }
    } else if (first !== undefined) tried.add(first);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const e = await this.b.get(this.b.sessions, key);
      const cur = e?.operation === "PUT" ? decodeSession(e.value) : undefined;
      let cand: string | undefined;
      try {
        if (cur !== undefined && cur.until > now && this.serving(cur.nid, service, now)) {
          if (now - (cur.until - idleMs) >= renewEvery(idleMs))
            await this.b.write(
              this.b.sessionsBucket,
              key,
              encodeSession({ until: now + idleMs, nid: cur.nid }),
              e?.revision ?? 0,
            );
          this.cache.set(key, cur.nid, now, idleMs);
          return { nid: cur.nid, placed: false };
        }
        cand = next ?? candidate();
        next = undefined;
        if (cand !== undefined && tried.has(cand)) cand = undefined;
        if (cand === undefined) return undefined;
        if (!this.takes(cand, service, now)) {
          tried.add(cand);
          continue;
        }
        await this.b.write(
          this.b.sessionsBucket,
          key,
          encodeSession({ until: now + idleMs, nid: cand }),
          e?.revision ?? 0,
        );
        this.cache.set(key, cand, now, idleMs);
        if (onMoved !== undefined && cur !== undefined && cur.until > now && cur.nid !== cand) onMoved(cur.nid);
        return { nid: cand, placed: true };
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
        next = cand;
      }
    }
    throw new StoreUnavailableError(`the NATS ${this.b.where}: session ${key} kept changing under ${ATTEMPTS} writes`);
  }

  /** Re-learns reported placements by the rule of session-adopt.ts, each by a revision-checked write. */
  async adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]> {
    const now = Date.now();
    const out: Adoption[] = [];
    for (let at = 0; at < sids.length; at += ADOPT_PARALLEL)
      out.push(
        ...(await Promise.all(
          sids.slice(at, at + ADOPT_PARALLEL).map((sid) => this.adopt(service, nid, sid, idleMs, now)),
        )),
      );
    return out;
  }

  private async adopt(service: string, nid: string, sid: string, idleMs: number, now: number): Promise<Adoption> {
    const key = sessionKey(service, sid);
    const mine = this.serving(nid, service, now);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const e = await this.b.get(this.b.sessions, key);
      const v = e?.operation === "PUT" ? decodeSession(e.value) : undefined;
      const cur = v !== undefined && v.until > now ? v.nid : undefined;
      const step = adoptStep(mine, nid, cur, cur !== undefined && this.serving(cur, service, now));
      if (step === "refuse") return { sid, outcome: "refused", nid: "" };
      if (step === "conflict") return { sid, outcome: "conflict", nid: cur as string };
      try {
        if (step !== "renew" || v === undefined || now - (v.until - idleMs) >= renewEvery(idleMs))
          await this.b.write(this.b.sessionsBucket, key, encodeSession({ until: now + idleMs, nid }), e?.revision ?? 0);
        this.cache.set(key, nid, now, idleMs);
        return step === "replace" ? { sid, outcome: "moved", nid, from: cur } : { sid, outcome: outcomeOf[step], nid };
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
      }
    }
    throw new StoreUnavailableError(`the NATS ${this.b.where}: session ${key} kept changing under ${ATTEMPTS} writes`);
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    const e = await this.b.get(this.b.sessions, sessionKey(service, sid));
    const cur = e?.operation === "PUT" ? decodeSession(e.value) : undefined;
    return cur !== undefined && cur.until > Date.now() ? cur.nid : undefined;
  }

  /** True when `host.token` is the owner token of `host.nid` (read from the bucket when this view disagrees). */
  private async owns(host: SessionHost): Promise<boolean> {
    const th = tokenHash(host.token);
    const e = this.feed.entry(host.nid);
    if (e?.live === true && e.token.equals(th)) return true;
    const fresh = await this.b.get(this.b.nodes, nodeKey(host.nid));
    return (
      fresh !== null && fresh.operation === "PUT" && fresh.value.length > 0 && decodeNode(fresh.value).token.equals(th)
    );
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const key = sessionKey(service, sid);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const e = await this.b.get(this.b.sessions, key);
      const cur = e?.operation === "PUT" ? decodeSession(e.value) : undefined;
      if (e === null || cur === undefined || cur.until <= Date.now()) return "none";
      if (host !== undefined && (cur.nid !== host.nid || !(await this.owns(host)))) return "refused";
      try {
        await this.b.write(this.b.sessionsBucket, key, encodeSession(cur), e.revision, true);
        this.cache.delete(key);
        return "released";
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
      }
    }
    throw new StoreUnavailableError(`the NATS ${this.b.where}: session ${key} kept changing under ${ATTEMPTS} writes`);
  }
}
