/**
 * The embedded store: everything in this process. Writes are applied synchronously, so a
 * session's check-and-place is atomic without locks.
 */
import { LeaseWheel } from "./leases.js";
import { NodeState, keepsSessions, type ChangeType, type MarkChange, type SessionChangeInput, type HeartbeatUpdate, type NodeRecord, type Placement, type RegistryEvent, type RegistryStore, type ReleaseResult, type SessionHost, type WriteResult } from "./types.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

interface Session {
  nid: string;
  until: number;
}

const sessionKey = (service: string, sid: string): string => `${service}\u0000${sid}`;

export interface MemoryStoreOptions {
  /** Bounds of the changes kept for resuming watchers (a number: the count only); default DEFAULT_HISTORY. */
  history?: number | Partial<HistoryLimits>;
}

export class MemoryStore implements RegistryStore {
  readonly view: RegistryView;
  private readonly tokens = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();
  private readonly leases = new LeaseWheel();
  private readonly sessionExpiry = new LeaseWheel(1000);
  /** Revisions start at the start time in µs: above any a previous registry handed out. */
  private rev = Date.now() * 1000;
  private readonly local = new Set<(e: RegistryEvent) => void>();

  constructor(options: MemoryStoreOptions = {}) {
    this.view = new RegistryView(typeof options.history === "number" ? { changes: options.history } : options.history);
  }

  private emit(type: ChangeType, record: NodeRecord): WriteResult {
    this.rev++;
    const event = { type, revision: this.rev, record };
    this.view.apply(event);
    for (const l of this.local) l(event);
    return { revision: this.rev };
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  private kindOf(before: NodeRecord | undefined, after: NodeRecord): ChangeType {
    if (before === undefined) return "up";
    return after.state === NodeState.NODE_STATE_DRAINING && before.state !== NodeState.NODE_STATE_DRAINING ? "draining" : "updated";
  }

  async register(record: NodeRecord, token: string): Promise<WriteResult> {
    const nid = record.node.nid;
    const cur = this.view.get(nid);
    if (cur !== undefined && this.tokens.get(nid) !== token) return { revision: this.rev, refused: "token" };
    this.tokens.set(nid, token);
    this.leases.set(nid, record.expiresAt);
    return this.emit(this.kindOf(cur, record), record);
  }

  async heartbeat(
    nid: string,
    token: string,
    update: HeartbeatUpdate,
    record: NodeRecord | undefined,
  ): Promise<WriteResult> {
    const cur = this.view.get(nid);
    if (cur === undefined) {
      if (record === undefined) return { revision: this.rev, refused: "unknown" };
      const r = await this.register({ ...record, load: update.load, state: update.state ?? record.state, expiresAt: update.expiresAt, leaseMs: update.leaseMs }, token);
      return { ...r, reregistered: true };
    }
    if (this.tokens.get(nid) !== token) return { revision: this.rev, refused: "token" };
    const next: NodeRecord = { ...cur, load: update.load, state: update.state ?? cur.state, expiresAt: update.expiresAt, leaseMs: update.leaseMs };
    this.leases.set(nid, next.expiresAt);
    return this.emit(this.kindOf(cur, next), next);
  }

  async deregister(nid: string, token: string): Promise<WriteResult> {
    const cur = this.view.get(nid);
    if (cur === undefined) return { revision: this.rev, refused: "unknown" };
    if (this.tokens.get(nid) !== token) return { revision: this.rev, refused: "token" };
    this.tokens.delete(nid);
    this.leases.delete(nid);
    return this.emit("down", cur);
  }

  async markNode(nid: string, change: MarkChange): Promise<WriteResult> {
    const cur = this.view.get(nid);
    if (cur === undefined || cur.expiresAt <= Date.now()) return { revision: this.rev, refused: "unknown" };
    if (change.token !== undefined && this.tokens.get(nid) !== change.token) return { revision: this.rev, refused: "token" };
    if (change.ifMarkedAt !== undefined && ((cur.mark?.at ?? 0) !== change.ifMarkedAt || (cur.mark?.drainedAt ?? 0) > 0)) return { revision: this.rev, refused: "stale" };
    this.rev++;
    const event: RegistryEvent = { type: change.type, revision: this.rev, record: { ...cur, mark: change.mark }, note: change.note };
    this.view.apply(event);
    for (const l of this.local) l(event);
    return { revision: this.rev };
  }

  async noteSession(change: SessionChangeInput): Promise<number> {
    this.rev++;
    this.view.applySession({ ...change, revision: this.rev });
    return this.rev;
  }

  async placeSession(service: string, sid: string, candidate: () => string | undefined, idleMs: number, onMoved?: (from: string) => void): Promise<Placement | undefined> {
    const key = sessionKey(service, sid);
    const now = Date.now();
    const s = this.sessions.get(key);
    if (s !== undefined && s.until > now) {
      const r = this.view.get(s.nid);
      if (r !== undefined && keepsSessions(r) && r.node.service === service) {
        s.until = now + idleMs;
        this.sessionExpiry.set(key, s.until);
        return { nid: s.nid, placed: false };
      }
    }
    const nid = candidate();
    if (nid === undefined) return undefined;
    this.sessions.set(key, { nid, until: now + idleMs });
    this.sessionExpiry.set(key, now + idleMs);
    if (onMoved !== undefined && s !== undefined && s.until > now && s.nid !== nid) onMoved(s.nid);
    return { nid, placed: true };
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    const s = this.sessions.get(sessionKey(service, sid));
    return s !== undefined && s.until > Date.now() ? s.nid : undefined;
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const key = sessionKey(service, sid);
    const s = this.sessions.get(key);
    if (s === undefined || s.until <= Date.now()) return "none";
    if (host !== undefined && (s.nid !== host.nid || this.tokens.get(host.nid) !== host.token)) return "refused";
    this.sessions.delete(key);
    this.sessionExpiry.delete(key);
    return "released";
  }

  async sweep(now: number): Promise<void> {
    for (const nid of this.leases.due(now)) {
      const r = this.view.get(nid);
      if (r === undefined) continue;
      if (r.expiresAt <= now) {
        this.tokens.delete(nid);
        this.emit("expired", r);
      } else {
        this.leases.set(nid, r.expiresAt);
      }
    }
    for (const key of this.sessionExpiry.due(now)) {
      const s = this.sessions.get(key);
      if (s === undefined) continue;
      if (s.until <= now) this.sessions.delete(key);
      else this.sessionExpiry.set(key, s.until);
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
