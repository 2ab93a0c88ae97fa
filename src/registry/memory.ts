/**
 * The embedded store: everything in this process. Writes are applied synchronously, so a
 * session's check-and-place is atomic without locks.
 */
import { ExpiryBuckets } from "./leases.js";
import { grown, widened } from "./capacity.js";
import { OwnerTokens } from "./owner-tokens.js";
import { StoreFullError } from "./errors.js";
import {
  NodeState,
  type ChangeType,
  type MarkChange,
  type SessionChangeInput,
  type HeartbeatUpdate,
  type NodeRecord,
  type Placement,
  type RegistryEvent,
  type RegistryStore,
  type ReleaseResult,
  type SessionHost,
  type WriteResult,
} from "./types.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";
import type { Adoption, SessionEventsMode, SessionSet } from "./model.js";
import { adoptStep, canKeep, outcomeOf } from "./session-adopt.js";

interface Session {
  readonly nid: string;
  /** Renewed by each lookup (the expiry buckets are not touched: the sweep finds it again). */
  until: number;
  /** The expiry bucket that holds it. */
  bucket: number;
}

const sessionKey = (service: string, sid: string): string => `${service}\u0000${sid}`;

export interface MemoryStoreOptions {
  /** Bounds of the changes kept for resuming watchers (a number: the count only); default DEFAULT_HISTORY. */
  history?: number | Partial<HistoryLimits>;
  /** "all": announce each new session placement ("placed") and each idle expiry ("expired"); default "moves": not. */
  sessionEvents?: SessionEventsMode;
  /**
   * Sessions kept at most (default 1,000,000: 300 MB with short ids, some 750 MB with ids of 250
   * characters, the longest allowed): past it a new session is refused
   * (StoreFullError) until others end, so callers allowed FindNode cannot exhaust the heap.
   */
  maxSessions?: number;
  /**
   * Nodes registered at most (default 100,000): past it a new node is refused (StoreFullError).
   * A node with the most ExtraInfo a registration may carry takes some 200 KB of heap, one of
   * the usual few entries under 1 KB: lower it where nodes may carry much and anyone may register.
   */
  maxNodes?: number;
}

/** MemoryStoreOptions.maxSessions by default. */
export const DEFAULT_MAX_SESSIONS = 1_000_000;
/** MemoryStoreOptions.maxNodes by default. */
export const DEFAULT_MAX_NODES = 100_000;

export class MemoryStore implements RegistryStore {
  readonly view: RegistryView;
  /**
   * Each node's owner token and the expiry bucket that holds its lease, by its slot in the
   * view's table (see NodeTable): no map or object of the store's own per node.
   */
  private readonly tokens = new OwnerTokens();
  /** Each slot's lease bucket (see ExpiryBuckets), a column that grows with the slots. */
  private buckets = new Float64Array(0);
  /** A node being registered: its owner is written by the view's first listener, before any other hears of the node. */
  private joining: { readonly nid: string; readonly token: string; readonly expiresAt: number } | undefined;
  private readonly sessions = new Map<string, Session>();
  /** Sessions' node sets (overflow), by session key; forgotten with the session. */
  private readonly sets = new Map<string, { nodes: readonly string[]; revision: number; until: number }>();
  private readonly leases = new ExpiryBuckets();
  private readonly sessionExpiry = new ExpiryBuckets(1000);
  /** Revisions start at the start time in µs: above any a previous registry handed out. */
  private rev = Date.now() * 1000;
  private readonly local = new Set<(e: RegistryEvent) => void>();
  private readonly announceAll: boolean;
  private readonly maxSessions: number;
  private readonly maxNodes: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxSessions = Math.max(1, options.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.maxNodes = Math.max(1, options.maxNodes ?? DEFAULT_MAX_NODES);
    this.view = new RegistryView(typeof options.history === "number" ? { changes: options.history } : options.history);
    this.announceAll = options.sessionEvents === "all";
    this.view.subscribe((e, s) => {
      const j = this.joining;
      if (j === undefined || s < 0 || e.record.node.nid !== j.nid) return;
      this.joining = undefined;
      this.tokens.set(s, j.token);
      if (s >= this.buckets.length) this.buckets = widened(this.buckets, Math.max(s + 1, grown(this.buckets.length)));
      this.buckets[s] = this.leases.add(j.nid, j.expiresAt);
    });
  }

  /** A placement that ended idle: announced with session events "all". */
  private expired(key: string, s: Session): void {
    if (!this.announceAll) return;
    const cut = key.indexOf("\u0000");
    const service = key.slice(0, cut);
    const sid = key.slice(cut + 1);
    void this.noteSession({ type: "expired", service, sid, nid: "", from: s.nid, reason: "idle" });
  }

  private emit(type: ChangeType, record: NodeRecord): WriteResult {
    this.rev++;
    const event = { type, revision: this.rev, record };
    this.view.apply(event);
    for (const l of this.local) l(event);
    return { revision: this.rev };
  }

  /** True when node `nid` is registered and `token` is its owner's. */
  private ownedBy(nid: string, token: string): boolean {
    const s = this.view.slotOf(nid);
    return s !== undefined && this.tokens.is(s, token);
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  /** The kind of a change to `after` of the node in slot `before` (undefined: a node not registered). */
  private kindOf(before: number | undefined, after: NodeRecord): ChangeType {
    if (before === undefined) return "up";
    return after.state === NodeState.NODE_STATE_DRAINING &&
      this.view.table.stateAt(before) !== NodeState.NODE_STATE_DRAINING
      ? "draining"
      : "updated";
  }

  async register(record: NodeRecord, token: string): Promise<WriteResult> {
    const nid = record.node.nid;
    const cur = this.view.slotOf(nid);
    if (cur !== undefined && !this.tokens.is(cur, token)) return { revision: this.rev, refused: "token" };
    const kind = this.kindOf(cur, record);
    if (cur !== undefined) {
      this.renewLease(nid, cur, record.expiresAt);
      return this.emit(kind, record);
    }
    if (this.view.table.size >= this.maxNodes)
      throw new StoreFullError(
        `the registry holds ${this.maxNodes} nodes, its limit: no node is added until one leaves`,
      );
    this.joining = { nid, token, expiresAt: record.expiresAt };
    try {
      return this.emit(kind, record);
    } finally {
      this.joining = undefined;
    }
  }

  async heartbeat(
    nid: string,
    token: string,
    update: HeartbeatUpdate,
    record: NodeRecord | undefined,
  ): Promise<WriteResult> {
    const cur = this.view.slotOf(nid);
    if (cur === undefined) {
      if (record === undefined) return { revision: this.rev, refused: "unknown" };
      const r = await this.register(
        {
          ...record,
          load: update.load,
          state: update.state ?? record.state,
          expiresAt: update.expiresAt,
          leaseMs: update.leaseMs,
        },
        token,
      );
      return { ...r, reregistered: true };
    }
    if (!this.tokens.is(cur, token)) return { revision: this.rev, refused: "token" };
    const t = this.view.table;
    const next = t.beatenAt(cur, update.load, update.state ?? t.stateAt(cur), update.expiresAt, update.leaseMs);
    this.renewLease(nid, cur, next.expiresAt);
    return this.emit(this.kindOf(cur, next), next);
  }

  /**
   * A lease that ends later stays in its bucket (the sweep moves it); one that ends sooner goes
   * to an earlier bucket. So a node is in one bucket, or a few it outlived: never one more a renewal.
   */
  private renewLease(nid: string, s: number, expiresAt: number): void {
    if (this.leases.bucketOf(expiresAt) < (this.buckets[s] as number))
      this.buckets[s] = this.leases.add(nid, expiresAt);
  }

  /** Forgets the owner of the node in slot `s` (leaving). */
  private disown(s: number): void {
    this.tokens.delete(s);
    this.buckets[s] = 0;
  }

  async deregister(nid: string, token: string): Promise<WriteResult> {
    const s = this.view.slotOf(nid);
    if (s === undefined) return { revision: this.rev, refused: "unknown" };
    if (!this.tokens.is(s, token)) return { revision: this.rev, refused: "token" };
    const cur = this.view.table.recordAt(s);
    this.disown(s);
    return this.emit("down", cur);
  }

  async markNode(nid: string, change: MarkChange): Promise<WriteResult> {
    const cur = this.view.get(nid);
    if (cur === undefined || cur.expiresAt <= Date.now()) return { revision: this.rev, refused: "unknown" };
    if (change.token !== undefined && !this.ownedBy(nid, change.token)) return { revision: this.rev, refused: "token" };
    if (
      change.ifMarkedAt !== undefined &&
      ((cur.mark?.at ?? 0) !== change.ifMarkedAt || (cur.mark?.drainedAt ?? 0) > 0)
    )
      return { revision: this.rev, refused: "stale" };
    this.rev++;
    const event: RegistryEvent = {
      type: change.type,
      revision: this.rev,
      record: { ...cur, mark: change.mark },
      note: change.note,
    };
    this.view.apply(event);
    for (const l of this.local) l(event);
    return { revision: this.rev };
  }

  async noteSession(change: SessionChangeInput): Promise<number> {
    this.rev++;
    this.view.applySession({ ...change, revision: this.rev });
    return this.rev;
  }

  async placeSession(
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    const key = sessionKey(service, sid);
    const now = Date.now();
    const s = this.sessions.get(key);
    if (s !== undefined && s.until > now) {
      const slot = this.view.slotOf(s.nid);
      if (slot !== undefined && this.view.table.keepsSessions(slot, service)) {
        s.until = now + idleMs;
        return { nid: s.nid, placed: false };
      }
    }
    if (s === undefined) this.roomForSession(now);
    const nid = candidate();
    if (nid === undefined) return undefined;
    if (s !== undefined && s.until <= now) this.expired(key, s);
    this.sessions.set(key, { nid, until: now + idleMs, bucket: this.sessionExpiry.add(key, now + idleMs) });
    const moved = s !== undefined && s.until > now && s.nid !== nid;
    if (onMoved !== undefined && moved) onMoved(s.nid);
    if (this.announceAll && !moved)
      void this.noteSession({ type: "placed", service, sid, nid, from: "", reason: "new" });
    return { nid, placed: true };
  }

  async adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]> {
    const now = Date.now();
    const reporterKeeps = canKeep(this.view.get(nid), service, now);
    return sids.map((sid) => {
      const key = sessionKey(service, sid);
      const s = this.sessions.get(key);
      const cur = s !== undefined && s.until > now ? s.nid : undefined;
      const step = adoptStep(reporterKeeps, nid, cur, cur !== undefined && canKeep(this.view.get(cur), service, now));
      if (step === "renew" && s !== undefined) s.until = now + idleMs;
      else if (step === "create" && s === undefined && this.sessions.size >= this.maxSessions)
        return { sid, outcome: "refused", nid: "" }; // full: the report re-learns it once there is room
      else if (step === "create" || step === "replace")
        this.sessions.set(key, { nid, until: now + idleMs, bucket: this.sessionExpiry.add(key, now + idleMs) });
      const host = step === "refuse" ? "" : step === "conflict" ? (cur as string) : nid;
      return step === "replace"
        ? { sid, outcome: outcomeOf[step], nid: host, from: cur }
        : { sid, outcome: outcomeOf[step], nid: host };
    });
  }

  /** Throws StoreFullError when a new session would pass maxSessions (after ending those already idle). */
  private roomForSession(now: number): void {
    if (this.sessions.size < this.maxSessions) return;
    this.sweepSessions(now);
    if (this.sessions.size >= this.maxSessions)
      throw new StoreFullError(
        `the registry holds ${this.maxSessions} sessions, its limit: no new session is placed until others end`,
      );
  }

  async sessionSet(service: string, sid: string, idleMs: number): Promise<SessionSet | undefined> {
    const s = this.sets.get(sessionKey(service, sid));
    const now = Date.now();
    if (s === undefined || s.until <= now) return undefined;
    s.until = now + idleMs;
    return { nodes: s.nodes, revision: s.revision };
  }

  async writeSessionSet(
    service: string,
    sid: string,
    nodes: readonly string[],
    ifRevision: number,
    idleMs: number,
  ): Promise<SessionSet | undefined> {
    const key = sessionKey(service, sid);
    const now = Date.now();
    const s = this.sets.get(key);
    if ((s !== undefined && s.until > now ? s.revision : 0) !== ifRevision) return undefined;
    const next = { nodes: [...nodes], revision: ifRevision + 1, until: now + idleMs };
    this.sets.set(key, next);
    return { nodes: next.nodes, revision: next.revision };
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    const s = this.sessions.get(sessionKey(service, sid));
    return s !== undefined && s.until > Date.now() ? s.nid : undefined;
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const key = sessionKey(service, sid);
    const s = this.sessions.get(key);
    if (s === undefined || s.until <= Date.now()) return "none";
    if (host !== undefined && (s.nid !== host.nid || !this.ownedBy(host.nid, host.token))) return "refused";
    this.sessions.delete(key);
    this.sets.delete(key);
    return "released";
  }

  async sweep(now: number): Promise<void> {
    // A key whose bucket is later than the ones due now is stale here: that bucket holds it.
    const lastLease = this.leases.lastDue(now);
    const t = this.view.table;
    for (const nid of this.leases.due(now)) {
      const s = t.slotOf(nid);
      if (s === undefined || (this.buckets[s] as number) > lastLease) continue;
      const expiresAt = t.expiresAt(s);
      if (expiresAt <= now) {
        const r = t.recordAt(s);
        this.disown(s);
        this.emit("expired", r);
      } else {
        this.buckets[s] = this.leases.add(nid, expiresAt);
      }
    }
    this.sweepSessions(now);
  }

  /** Ends the sessions idle since before `now`. */
  private sweepSessions(now: number): void {
    const lastSession = this.sessionExpiry.lastDue(now);
    for (const key of this.sessionExpiry.due(now)) {
      const s = this.sessions.get(key);
      if (s === undefined || s.bucket > lastSession) continue;
      if (s.until <= now) {
        this.sessions.delete(key);
        this.expired(key, s);
        const set = this.sets.get(key);
        if (set !== undefined && set.until <= now) this.sets.delete(key);
      } else s.bucket = this.sessionExpiry.add(key, s.until);
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
