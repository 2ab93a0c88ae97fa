/**
 * The in-memory view of a registry: the live nodes by id and by service, the revision, a
 * bounded log of recent changes (for watchers that resume), and a synchronous change feed.
 * Every store keeps one and applies its changes in revision order; reads never do I/O.
 */
import type { NodeMark, NodeRecord, RegistryEvent, SessionEvent } from "./model.js";
import { SessionLog } from "./session-log.js";
import { ChangeHistory, type HistoryLimits } from "./history.js";

export type ChangeListener = (event: RegistryEvent) => void;
/** Called when the view was replaced by a snapshot (see `resync`). */
export type ResyncListener = (revision: number) => void;

export class RegistryView {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly services = new Map<string, Map<string, NodeRecord>>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly resyncListeners = new Set<ResyncListener>();
  /** The operators' marks by node: set by mark changes only, merged into every other change of the node. */
  private readonly marks = new Map<string, NodeMark>();
  /** The recent changes, for watchers that resume. */
  readonly history: ChangeHistory;
  /** The recent session changes (moves, releases), for watchers of session events; in the same revisions. */
  readonly sessions = new SessionLog();
  private rev = 0;

  /** @param history bounds of the recent changes kept for resuming watchers (count, bytes, age). */
  constructor(history: Partial<HistoryLimits> = {}) {
    this.history = new ChangeHistory(history);
  }

  /** The revision of the last change applied. */
  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.nodes.size;
  }

  get(nid: string): NodeRecord | undefined {
    return this.nodes.get(nid);
  }

  /** The nodes of a service ("" or "*": all), in no particular order. */
  nodesOf(service: string): Iterable<NodeRecord> {
    if (service === "" || service === "*") return this.nodes.values();
    return this.services.get(service)?.values() ?? [];
  }

  /** How many nodes a service has. */
  countOf(service: string): number {
    return this.services.get(service)?.size ?? 0;
  }

  /** Service names with at least one node. */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /**
   * Applies one change. Revisions must grow; a change at or below the current revision is
   * ignored (it was applied already), so a feed replayed after a reconnect is harmless.
   */
  apply(change: RegistryEvent): void {
    if (change.revision <= this.rev) return;
    this.rev = change.revision;
    const event = this.withMark(change);
    const r = event.record;
    const nid = r.node.nid;
    const service = r.node.service;
    if (event.type === "down" || event.type === "expired") {
      const cur = this.nodes.get(nid);
      if (cur !== undefined) {
        this.nodes.delete(nid);
        this.dropFromService(cur.node.service, nid);
      }
    } else {
      const cur = this.nodes.get(nid);
      if (cur !== undefined && cur.node.service !== service) this.dropFromService(cur.node.service, nid);
      this.nodes.set(nid, r);
      let m = this.services.get(service);
      if (m === undefined) this.services.set(service, (m = new Map()));
      m.set(nid, r);
    }
    this.history.append(event);
    for (const l of this.listeners) l(event);
  }

  /**
   * A change with the node's mark as the view knows it: a mark change sets it (or clears it),
   * a node that leaves loses it, any other change (a heartbeat written from whatever an
   * instance's view held) gets the current one. No allocation while nothing is marked.
   */
  private withMark(event: RegistryEvent): RegistryEvent {
    const nid = event.record.node.nid;
    if (event.note !== undefined) {
      if (event.record.mark === undefined) this.marks.delete(nid);
      else this.marks.set(nid, event.record.mark);
      return event;
    }
    if (event.type === "down" || event.type === "expired") {
      if (this.marks.size > 0) this.marks.delete(nid);
      return event;
    }
    const m = this.marks.size === 0 ? undefined : this.marks.get(nid);
    if (event.record.mark === m) return event;
    return { ...event, record: { ...event.record, mark: m } };
  }

  /**
   * Applies one session change (a move, a release): it takes the next revision like a node
   * change, and goes to the session log and its listeners only (node listeners never see it).
   */
  applySession(event: SessionEvent): void {
    if (event.revision <= this.rev) return;
    this.rev = event.revision;
    this.sessions.append(event);
  }

  private dropFromService(service: string, nid: string): void {
    const m = this.services.get(service);
    if (m === undefined) return;
    m.delete(nid);
    if (m.size === 0) this.services.delete(service);
  }

  /**
   * The changes after `revision`, in order, or undefined when some of them are no longer
   * kept (the watcher must start again from a snapshot).
   */
  since(revision: number): RegistryEvent[] | undefined {
    return this.history.since(revision, this.rev);
  }

  /**
   * Replaces everything with a snapshot at `revision` (a store loading its state, or one that
   * missed changes). The change log is dropped, so resuming watchers start from a snapshot;
   * resync listeners hear of it (the balancer rebuilds, live watchers end and resume).
   */
  resync(revision: number, records: Iterable<NodeRecord>): void {
    this.nodes.clear();
    this.services.clear();
    this.marks.clear();
    for (const r of records) {
      if (r.mark !== undefined) this.marks.set(r.node.nid, r.mark);
      this.nodes.set(r.node.nid, r);
      let m = this.services.get(r.node.service);
      if (m === undefined) this.services.set(r.node.service, (m = new Map()));
      m.set(r.node.nid, r);
    }
    this.rev = revision;
    this.history.clear();
    this.sessions.clear(revision);
    for (const l of this.resyncListeners) l(revision);
  }

  /** Calls `listener` after each resync; returns how to stop. */
  onResync(listener: ResyncListener): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** Calls `listener` with every change from now on, in order; returns how to stop. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
