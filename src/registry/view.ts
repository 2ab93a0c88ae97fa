/**
 * The in-memory view of a registry: the live nodes by id and by service, the revision, a
 * bounded log of recent changes (for watchers that resume), and a synchronous change feed.
 * Every store keeps one and applies its changes in revision order; reads never do I/O.
 * The nodes are kept as columns (see NodeTable): records are made when asked for.
 */
import type { Node } from "../../generated/ion/ion.js";
import type { Load, NodeMark, NodeRecord, NodeState, RegistryEvent, SessionEvent } from "./model.js";
import { SessionLog } from "./session-log.js";
import { ChangeHistory, type HistoryLimits } from "./history.js";
import { NodeTable } from "./node-table.js";
import { ServiceSlots } from "./service-slots.js";

/**
 * Called with each change and the node's slot in `RegistryView.table` (-1: a node the view did
 * not have left). For a node that left, the slot's columns still hold it during the call.
 */
export type ChangeListener = (event: RegistryEvent, slot: number) => void;
/**
 * Called when the view was replaced by a snapshot (see `resync`), with the nodes the view had
 * before it: node id to lease end (ms since the epoch).
 */
export type ResyncListener = (revision: number, before: ReadonlyMap<string, number>) => void;

export class RegistryView {
  /** The nodes, by slot; the memory store and the balancer keep their own figures by the same slots. */
  readonly table = new NodeTable();
  private readonly services = new ServiceSlots();
  private readonly beforeChange = new Set<(slot: number) => void>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly resyncListeners = new Set<ResyncListener>();
  /** The operators' marks by node: set by mark changes only, merged into every other change of the node. */
  private readonly marks = new Map<string, NodeMark>();
  /** The recent changes, for watchers that resume. */
  readonly history: ChangeHistory;
  /** The recent session changes (moves, releases), for watchers of session events; in the same revisions. */
  readonly sessions = new SessionLog();
  private rev = 0;
  /** Changes a store took and left for later (`defer`), in order. */
  private deferred: Array<() => void> = [];

  /** @param history bounds of the recent changes kept for resuming watchers (count, bytes, age). */
  constructor(history: Partial<HistoryLimits> = {}) {
    this.history = new ChangeHistory(history);
  }

  /** The revision of the last change applied. */
  get revision(): number {
    this.settle();
    return this.rev;
  }

  /**
   * Leaves `changes` (a function that applies changes through `apply`) for the end of this turn
   * of the event loop, or for the first read or change of the view before then: a store that
   * answers its callers first and applies after (the Redis store's own heartbeats, ChangeTail).
   * Order holds: what is deferred is applied before any later change, and before any read of
   * records, the revision or the log. A few reads do not wait for it, as no change a store
   * defers (a heartbeat: load and lease) alters what they return: `table`, `size`, `slotOf`,
   * `nodeOf`, `markOf`, `countOf`, `serviceNames`.
   */
  defer(changes: () => void): void {
    this.deferred.push(changes);
    if (this.deferred.length === 1) setImmediate(this.settleNow);
  }

  private readonly settleNow = (): void => this.settle();

  /** Applies what `defer` left, in order. */
  private settle(): void {
    if (this.deferred.length === 0) return;
    const all = this.deferred;
    this.deferred = [];
    for (const changes of all) changes();
  }

  get size(): number {
    return this.table.size;
  }

  get(nid: string): NodeRecord | undefined {
    this.settle();
    const s = this.table.slotOf(nid);
    return s === undefined ? undefined : this.table.recordAt(s);
  }

  /**
   * Node `nid`'s record after a heartbeat (see records.ts beaten): a new load and lease, its
   * state when given, the rest as now; made from the columns without making its current record
   * first (what `beaten(get(nid), ...)` would). Undefined when the view has no such node.
   */
  beaten(
    nid: string,
    load: Load,
    state: NodeState | undefined,
    expiresAt: number,
    leaseMs: number | undefined,
  ): NodeRecord | undefined {
    this.settle();
    const t = this.table;
    const s = t.slotOf(nid);
    if (s === undefined) return undefined;
    return t.beatenAt(s, load, state ?? t.stateAt(s), expiresAt, leaseMs ?? t.leaseMsAt(s));
  }

  /** The slot of node `nid` in `table`. */
  slotOf(nid: string): number | undefined {
    return this.table.slotOf(nid);
  }

  /** The node `nid` (its Node message, as its record has it), without making its record. */
  nodeOf(nid: string): Node | undefined {
    const s = this.table.slotOf(nid);
    return s === undefined ? undefined : this.table.nodeAt(s);
  }

  /** The nodes of a service ("" or "*": all), in no particular order: a new array. */
  nodesOf(service: string): NodeRecord[] {
    this.settle();
    const t = this.table;
    const out: NodeRecord[] = [];
    if (service === "" || service === "*") {
      for (let s = 0; s < t.end; s++) if (t.has(s)) out.push(t.recordAt(s));
    } else {
      const { slots, n } = this.services.slotsOf(service);
      for (let i = 0; i < n; i++) out.push(t.recordAt(slots[i] as number));
    }
    return out;
  }

  /** Node `nid`'s mark (cordon, drain), as the view's last change of it left it. */
  markOf(nid: string): NodeMark | undefined {
    return this.marks.size === 0 ? undefined : this.marks.get(nid);
  }

  /** How many nodes a service has. */
  countOf(service: string): number {
    return this.services.countOf(service);
  }

  /** Service names with at least one node. */
  serviceNames(): string[] {
    return this.services.names();
  }

  /**
   * Applies one change. Revisions must grow; a change at or below the current revision is
   * ignored (it was applied already), so a feed replayed after a reconnect is harmless.
   */
  apply(change: RegistryEvent): void {
    this.settle();
    if (change.revision <= this.rev) return;
    this.rev = change.revision;
    const event = this.withMark(change);
    const r = event.record;
    const nid = r.node.nid;
    const service = r.node.service;
    const t = this.table;
    let s = t.slotOf(nid);
    if (event.type === "down" || event.type === "expired") {
      if (s !== undefined) {
        t.unlink(nid);
        this.services.remove(t.serviceAt(s), s);
      }
      this.history.append(event);
      // The slot is freed once every listener has seen the node leave (its columns read).
      try {
        for (const l of this.listeners) l(event, s ?? -1);
      } finally {
        if (s !== undefined) t.release(s);
      }
      return;
    }
    if (s !== undefined) for (const l of this.beforeChange) l(s);
    t.set((s = this.slotFor(nid, service, s)), r);
    this.history.append(event);
    for (const l of this.listeners) l(event, s);
  }

  /**
   * The slot for node `nid` of `service`: `s` (its slot, when it has one) moved to `service`
   * if it changed service, else a new one, in `service`. The caller writes the record into it.
   */
  private slotFor(nid: string, service: string, s: number | undefined): number {
    const t = this.table;
    if (s === undefined) {
      const added = t.add(nid);
      this.services.add(service, added);
      return added;
    }
    const was = t.serviceAt(s);
    if (was !== service) {
      this.services.remove(was, s);
      this.services.add(service, s);
    }
    return s;
  }

  /**
   * Calls `listener` with a node's slot just before a change overwrites what the table holds
   * of it (the balancer takes its old figures out); returns how to stop.
   */
  onBeforeChange(listener: (slot: number) => void): () => void {
    this.beforeChange.add(listener);
    return () => this.beforeChange.delete(listener);
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
    const m = this.markOf(nid);
    if (event.record.mark === m) return event;
    return { ...event, record: { ...event.record, mark: m } };
  }

  /**
   * Applies one session change (a move, a release): it takes the next revision like a node
   * change, and goes to the session log and its listeners only (node listeners never see it).
   */
  applySession(event: SessionEvent): void {
    this.settle();
    if (event.revision <= this.rev) return;
    this.rev = event.revision;
    this.sessions.append(event);
  }

  /**
   * The changes after `revision`, in order, or undefined when some of them are no longer
   * kept (the watcher must start again from a snapshot).
   */
  since(revision: number): RegistryEvent[] | undefined {
    this.settle();
    return this.history.since(revision, this.rev);
  }

  /**
   * Replaces everything with a snapshot at `revision` (a store loading its state, or one that
   * missed changes). The change log is dropped, so resuming watchers start from a snapshot;
   * resync listeners hear of it (the balancer rebuilds, live watchers end and resume).
   */
  resync(revision: number, records: Iterable<NodeRecord>): void {
    this.settle();
    const t = this.table;
    const before = new Map<string, number>();
    for (let s = 0; s < t.end; s++) if (t.has(s)) before.set(t.nidAt(s), t.expiresAt(s));
    t.clear();
    this.services.clear();
    this.marks.clear();
    for (const r of records) {
      if (r.mark !== undefined) this.marks.set(r.node.nid, r.mark);
      t.set(this.slotFor(r.node.nid, r.node.service, t.slotOf(r.node.nid)), r);
    }
    this.rev = revision;
    this.history.clear();
    this.sessions.clear(revision);
    for (const l of this.resyncListeners) l(revision, before);
  }

  /** Calls `listener` after each resync; returns how to stop. */
  onResync(listener: ResyncListener): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** Calls `listener` with every change from now on, in order; returns how to stop. */
  subscribe(listener: ChangeListener): () => void {
    this.settle();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
