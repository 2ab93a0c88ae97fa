/**
 * The NATS KV store's change feed: one KV watch of the nodes bucket first delivers the last
 * entry of every node (the snapshot the view starts from), then every change in sequence
 * order; revisions are the bucket's base (its creation time, µs) plus the KV sequence. This
 * instance's own writes are applied as they are acknowledged, in revision order. A watch
 * that ends (the bucket deleted, the server gone) is started again: from where it was, or,
 * when the bucket was created anew, from a fresh snapshot. A second watch (new entries only)
 * of the sessions bucket tells who answers known sessions from memory what changed. The
 * nodes bucket also holds the operators' marks (`m.` keys, merged into the records of the
 * registration they were set on) and the session changes (key `e`), so all of them share
 * one sequence: the registry's revisions.
 */
import { KvWatchInclude, type KvEntry, type QueuedIterator } from "nats";
import {
  SESSION_EVENTS_KEY,
  decodeMarkValue,
  decodeNode,
  nidOfMarkKey,
  type KvBuckets,
  type MarkValue,
} from "./nats-kv-bucket.js";
import { parseSessionEvent } from "./redis-session-events.js";
import { LeaseWheel } from "./leases.js";
import { reachRevision } from "./nats-kv-wait.js";
import type { ChangeFeed } from "./types.js";
import type { ChangeType, NodeRecord, RegistryEvent, SessionEvent } from "./model.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

/** What this instance last saw of a node's key: its KV sequence, owner token hash and record. */
export interface NodeEntry {
  readonly seq: number;
  readonly token: Buffer;
  /** The registration this entry belongs to (NodeValue.gen). */
  readonly gen: number;
  readonly record: NodeRecord;
  /** False for a DEL marker (the node is gone; the marker's sequence is what a new write must expect). */
  readonly live: boolean;
}

/** How long a write waits for the watch to bring the changes before its own. */
const REACH_OWN_MS = 1000;
/** A view behind its bucket this long (seen by health pings) has a stalled watch: started again. */
const STALL_MS = 1000;
/** Pause before a watch that ended is started again. */
const RETRY_MS = 250;

type SessionListener = (key: string, entry: KvEntry) => void;

/** What this instance last saw of a node's mark key: its KV sequence and value, and the change it made when it applied to the node (its registration was live). */
export interface MarkEntry {
  readonly seq: number;
  readonly value: MarkValue;
  readonly event: RegistryEvent | undefined;
}

export class KvTail implements ChangeFeed {
  readonly view: RegistryView;
  /** Leases by end, fed by every live entry applied (what the sweep reads). */
  readonly leases = new LeaseWheel();
  private readonly entries = new Map<string, NodeEntry>();
  private readonly marks = new Map<string, MarkEntry>();
  /** The last sequence the watch delivered (some entries change nothing in the view: a stale mark). */
  private seen = 0;
  private readonly local = new Set<(e: RegistryEvent) => void>();
  private readonly sessionListeners = new Set<SessionListener>();
  private base = 0;
  private closed = false;
  private readonly watches = new Set<QueuedIterator<KvEntry>>();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly b: KvBuckets,
    history: Partial<HistoryLimits> | undefined,
    private readonly onError: ((err: unknown) => void) | undefined,
  ) {
    this.view = new RegistryView(history);
    b.onFailure = () => this.suspect();
  }

  private suspectedAt = 0;
  /** A bucket sequence the view had not reached when a ping saw it, and when. */
  private behind: { seq: number; at: number } | undefined;

  /**
   * True when the view has stayed behind the bucket for over a second: the watch stalled (its
   * server went away and the consumer has not noticed yet); it is then started again from
   * where the view is.
   */
  private stalled(lastSeq: number): boolean {
    const seq = Math.max(this.view.revision - this.base, this.seen);
    if (this.behind !== undefined && seq >= this.behind.seq) this.behind = undefined;
    if (this.behind === undefined) {
      if (lastSeq > seq) this.behind = { seq: lastSeq, at: Date.now() };
      return false;
    }
    if (Date.now() - this.behind.at < STALL_MS) return false;
    this.behind = undefined;
    return true;
  }

  private restartWatches(): void {
    if (this.closed) return;
    for (const w of this.watches) w.stop();
  }

  /**
   * True when the nodes bucket answers. A bucket created anew since this instance loaded its
   * view (wiped: another instance created it again) restarts the watches from a fresh snapshot;
   * a missing one is created again.
   */
  async ping(): Promise<boolean> {
    try {
      const { base, lastSeq } = await this.b.info();
      if (base !== this.base || this.stalled(lastSeq)) this.restartWatches();
      return true;
    } catch {
      this.suspect();
      return false;
    }
  }

  /**
   * A write or read failed: when the buckets are gone (deleted by hand) or new, creates them
   * again and restarts the watches (a new bucket: from a fresh snapshot). At most once a second.
   */
  private suspect(): void {
    const now = Date.now();
    if (this.closed || now - this.suspectedAt < 1000) return;
    this.suspectedAt = now;
    const check = async (): Promise<void> => {
      let base: number;
      try {
        base = (await this.b.info()).base;
      } catch {
        await this.b.ensure();
        base = (await this.b.info()).base;
      }
      if (base !== this.base) this.restartWatches();
    };
    check().catch((e: unknown) => this.onError?.(e));
  }

  /** The revision of KV sequence `seq`. */
  revisionOf(seq: number): number {
    return this.base + seq;
  }

  /** What this instance knows of node `nid`'s key. */
  entry(nid: string): NodeEntry | undefined {
    return this.entries.get(nid);
  }

  /** Notes a key's state read from the bucket (never older than what is known). */
  note(nid: string, e: NodeEntry): void {
    const cur = this.entries.get(nid);
    if (cur === undefined || cur.seq < e.seq) this.entries.set(nid, e);
  }

  /** What this instance knows of node `nid`'s mark key. */
  markOf(nid: string): MarkEntry | undefined {
    return this.marks.get(nid);
  }

  /** Forgets a key's state (it was not what the bucket holds). */
  forget(nid: string): void {
    this.entries.delete(nid);
  }

  /** Loads the snapshot and starts tailing; resolves once the view holds the snapshot. */
  async start(): Promise<void> {
    const info = await this.b.info();
    this.base = info.base;
    let loaded!: () => void;
    const ready = new Promise<void>((resolve) => (loaded = resolve));
    this.loops.push(this.nodeLoop(info.lastSeq, loaded), this.sessionLoop());
    await ready;
  }

  private async nodeLoop(lastSeq: number, loaded: () => void): Promise<void> {
    let fresh = true;
    while (!this.closed) {
      try {
        if (fresh) fresh = !(await this.snapshotWatch(lastSeq, loaded));
        else await this.resumeWatch();
      } catch (e) {
        if (this.closed) return;
        this.onError?.(e);
      }
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (this.closed) return;
      // The watch ended: the bucket may be gone (wiped) or new; bring it back and see which.
      try {
        await this.b.ensure();
        const info = await this.b.info();
        fresh = info.base !== this.base;
        if (fresh) {
          this.base = info.base;
          lastSeq = info.lastSeq;
        }
      } catch (e) {
        this.onError?.(e);
      }
    }
  }

  /** A watch from the last entry of every key: the view is replaced by them once they are in. True once it was. */
  private async snapshotWatch(lastSeq: number, loaded: () => void): Promise<boolean> {
    const initial: KvEntry[] = [];
    let live = false;
    const init = (): void => {
      if (live) return;
      live = true;
      this.entries.clear();
      this.marks.clear();
      let max = lastSeq;
      const records: NodeRecord[] = [];
      const nodes = initial.filter((e) => e.key.startsWith("n."));
      for (const e of initial) {
        max = Math.max(max, e.revision);
        const v = e.key.startsWith("m.") ? decodeMarkValue(e.value) : undefined;
        if (v !== undefined) this.marks.set(nidOfMarkKey(e.key), { seq: e.revision, value: v, event: undefined });
      }
      for (const e of nodes) {
        const n = this.toEntry(e);
        if (n === undefined) continue;
        this.entries.set(n.record.node.nid, n);
        if (n.live) {
          const nid = n.record.node.nid;
          const m = this.marks.get(nid);
          if (m !== undefined && m.value.gen === n.gen && m.value.mark !== undefined) {
            records.push({ ...n.record, mark: m.value.mark });
          } else records.push(n.record);
          this.leases.set(n.record.node.nid, n.record.expiresAt);
        }
      }
      this.seen = max;
      this.view.resync(this.revisionOf(max), records);
      loaded();
    };
    const w = await this.b.nodes.watch({ key: ">", initializedFn: init });
    await this.drain(w, (e) => (live ? this.applyEntry(e) : initial.push(e)));
    return live;
  }

  private async resumeWatch(): Promise<void> {
    const w = await this.b.nodes.watch({
      key: ">",
      resumeFromRevision: Math.max(this.view.revision - this.base, this.seen) + 1,
    });
    await this.drain(w, (e) => this.applyEntry(e));
  }

  private async sessionLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const w = await this.b.sessions.watch({ include: KvWatchInclude.UpdatesOnly });
        await this.drain(w, (e) => {
          for (const l of this.sessionListeners) l(e.key, e);
        });
      } catch (e) {
        if (this.closed) return;
        this.onError?.(e);
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private async drain(w: QueuedIterator<KvEntry>, each: (e: KvEntry) => void): Promise<void> {
    this.watches.add(w);
    try {
      if (this.closed) return;
      for await (const e of w) {
        try {
          each(e);
        } catch (err) {
          this.onError?.(err);
        }
      }
    } finally {
      this.watches.delete(w);
    }
  }

  private toEntry(e: KvEntry): NodeEntry | undefined {
    // A purge (by hand: `nats kv purge`) carries no value; the node is gone without a word.
    if (e.value.length === 0) return undefined;
    const v = decodeNode(e.value);
    return { seq: e.revision, token: v.token, gen: v.gen, record: v.record, live: e.operation === "PUT" };
  }

  private applyEntry(e: KvEntry): void {
    this.seen = Math.max(this.seen, e.revision);
    const rev = this.revisionOf(e.revision);
    if (rev <= this.view.revision) return; // our own write, applied when it was acknowledged
    if (e.value.length === 0) return;
    if (e.key === SESSION_EVENTS_KEY) {
      const s = parseSessionEvent(rev, Buffer.from(e.value).toString("utf8"));
      if (s !== undefined) this.view.applySession(s);
      return;
    }
    if (e.key.startsWith("m.")) {
      const v = decodeMarkValue(e.value);
      if (v !== undefined) this.applyMark(nidOfMarkKey(e.key), e.revision, v);
      return;
    }
    if (!e.key.startsWith("n.")) return;
    const v = decodeNode(e.value);
    this.apply(v.type, e.revision, {
      seq: e.revision,
      token: v.token,
      gen: v.gen,
      record: v.record,
      live: e.operation === "PUT",
    });
  }

  /**
   * Applies a mark entry: a change of the node's mark when the registration it was set on is
   * the live one (else it changes nothing: the node left, or came back as a new registration,
   * before the mark). Returns the change applied, if any.
   */
  private applyMark(nid: string, seq: number, v: MarkValue): RegistryEvent | undefined {
    const cur = this.marks.get(nid);
    if (cur !== undefined && cur.seq >= seq) return undefined;
    const n = this.entries.get(nid);
    const r = this.view.get(nid);
    const event: RegistryEvent | undefined =
      n?.live === true && n.gen === v.gen && r !== undefined
        ? { type: v.type, revision: this.revisionOf(seq), record: { ...r, mark: v.mark }, note: v.note }
        : undefined;
    this.marks.set(nid, { seq, value: v, event });
    if (event !== undefined) this.view.apply(event);
    return event;
  }

  /**
   * Applies this instance's own mark write (sequence `seq`) as applyOwn does a node's; local
   * listeners hear of it when it applied to the node. Resolves with the change, or undefined
   * when it did not apply (the registration it named was no longer the live one).
   */
  async applyOwnMark(nid: string, seq: number, v: MarkValue): Promise<RegistryEvent | undefined> {
    const rev = this.revisionOf(seq);
    let event: RegistryEvent | undefined;
    if (rev === this.view.revision + 1) event = this.applyMark(nid, seq, v);
    else {
      if (rev > this.view.revision) await reachRevision(this.view, rev, REACH_OWN_MS);
      const m = this.marks.get(nid);
      if (m !== undefined && m.seq === seq) event = m.event;
      else {
        // The watch has not brought it yet (slow), or brought a later mark: report it from what this instance sees.
        const n = this.entries.get(nid);
        const r = this.view.get(nid);
        if (n?.live === true && n.gen === v.gen && r !== undefined)
          event = { type: v.type, revision: rev, record: { ...r, mark: v.mark }, note: v.note };
      }
    }
    if (event !== undefined) for (const l of this.local) l(event);
    return event;
  }

  /** Applies this instance's own session change (sequence `seq` of key `e`) in order; resolves with its revision. */
  async applyOwnSession(seq: number, change: Omit<SessionEvent, "revision">): Promise<number> {
    const rev = this.revisionOf(seq);
    this.seen = Math.max(this.seen, seq);
    if (rev === this.view.revision + 1) this.view.applySession({ ...change, revision: rev });
    else if (rev > this.view.revision) await reachRevision(this.view, rev, REACH_OWN_MS);
    return rev;
  }

  private apply(type: ChangeType, seq: number, n: NodeEntry): RegistryEvent {
    const nid = n.record.node.nid;
    this.note(nid, n);
    if (n.live) this.leases.set(nid, n.record.expiresAt);
    else this.leases.delete(nid);
    const event = { type, revision: this.revisionOf(seq), record: n.record };
    this.view.apply(event);
    return event;
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  /** Calls `listener` with each new entry of the sessions bucket (any instance's write). */
  onSessionChange(listener: SessionListener): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  /**
   * Applies this instance's own write (KV sequence `seq`) at once when it is the next change;
   * otherwise waits (briefly) for the watch to bring the changes before it. Local listeners
   * hear of it: a write is reported by the instance whose revision-checked write succeeded.
   */
  async applyOwn(type: ChangeType, seq: number, n: NodeEntry): Promise<void> {
    const rev = this.revisionOf(seq);
    this.note(n.record.node.nid, n);
    if (rev === this.view.revision + 1) this.apply(type, seq, n);
    else if (rev > this.view.revision) await reachRevision(this.view, rev, REACH_OWN_MS);
    const event = { type, revision: rev, record: n.record };
    for (const l of this.local) l(event);
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const w of this.watches) w.stop();
    await Promise.all(this.loops);
  }
}
