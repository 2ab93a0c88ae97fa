/**
 * What a registry store is, as small interfaces a new backend can implement one by one:
 * nodes (registrations and leases), sessions (placements), marks (operators' cordons and drains), changes (the view and the feed of
 * this instance's changes) and health (reachability, lifecycle). `RegistryStore` is all four,
 * what callers use. The records and results they exchange are in model.ts (re-exported here).
 */
import type { RegistryView } from "./view.js";
import type {
  Adoption,
  Load,
  MarkChange,
  NodeRecord,
  NodeState,
  Placement,
  RegistryEvent,
  SessionSet,
  ReleaseResult,
  SessionChangeInput,
  SessionHost,
  WriteResult,
} from "./model.js";

export * from "./model.js";

/** What a heartbeat renews. */
export interface HeartbeatUpdate {
  load: Load;
  state: NodeState | undefined;
  expiresAt: number;
  leaseMs: number;
}

/** Registrations with leases, owned by a token. */
export interface NodeStore {
  /** Registers (or re-registers, with the same token) a node. */
  register(record: NodeRecord, token: string): Promise<WriteResult>;
  /**
   * Renews a lease with fresh load (and state, when given). An unknown node is registered
   * again from `record`, when given; a known one needs its token.
   */
  heartbeat(nid: string, token: string, update: HeartbeatUpdate, record: NodeRecord | undefined): Promise<WriteResult>;
  /** Removes a node; needs its token. */
  deregister(nid: string, token: string): Promise<WriteResult>;
  /** Expires the leases (and session placements) that ended before `now`. */
  sweep(now: number): Promise<void>;
}

/**
 * Operators' marks (cordon, drain) on nodes, kept apart from what nodes write: a heartbeat,
 * through any instance and from however stale a view, neither clears nor brings back a mark;
 * the store merges the mark into the records of its view (RegistryView.apply does, given the
 * change's `note`). A node that leaves (deregistered, expired) loses its mark.
 */
export interface MarkStore {
  /**
   * Sets or clears the mark of a registered node atomically across the instances sharing the
   * store, as one change (type `change.type`, with `change.note`) in revision order. Refused
   * "unknown" (no such live node), "token" (the owner token given does not match) or "stale"
   * (`ifMarkedAt` did not hold); nothing changes then.
   */
  markNode(nid: string, change: MarkChange): Promise<WriteResult>;
}

/** Session placements: one node per session, the same for every caller through any instance. */
export interface SessionStore {
  /**
   * The node hosting session `sid` of `service` if it is alive and SERVING; else places the
   * session on `candidate()` atomically (every caller, through any islb instance, gets the
   * same node). Undefined when there is no candidate. Each lookup keeps the session for
   * `idleMs` more. `onMoved` is called with the previous host when this call placed the
   * session in place of a placement on another node (its host could not keep it).
   */
  placeSession(
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined>;
  /** The node a session is on, without placing it. */
  sessionNode(service: string, sid: string): Promise<string | undefined>;
  /**
   * Forgets a session's placement. With `host`, only when the session is on `host.nid` and
   * `host.token` is that node's owner token ("refused" otherwise); without, unconditionally
   * (the caller checked the admin credential). "none" when nothing was placed.
   */
  releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult>;
  /**
   * Records a session change (a move, a release) with the next revision, in order with the
   * node changes, so that every instance's view reports it to its session watchers
   * (RegistryView.sessions). Resolves with its revision.
   */
  noteSession(change: SessionChangeInput): Promise<number>;
  /**
   * Re-learns placements a node reports it hosts (its heartbeats), each atomically across the
   * instances sharing the store, by the rule of session-adopt.ts: a session placed nowhere (a
   * wiped store) or on a node that cannot keep it is placed on `nid`; one on `nid` is renewed
   * for `idleMs`; one on another node that keeps it stays there (a conflict). One result per
   * sid, in order.
   */
  adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]>;
}

/**
 * Sessions' node sets (FindNodeRequest.overflow), each a compare-and-set value beside the
 * session's placement: every caller through any instance reads the same set in the same order.
 * Releasing the session (releaseSession) forgets its set; an idle set lapses like a placement.
 */
export interface SessionSetStore {
  /** The session's node set, renewed for `idleMs`; undefined when none was written (or it lapsed). */
  sessionSet(service: string, sid: string, idleMs: number): Promise<SessionSet | undefined>;
  /**
   * Writes the set `nodes` when the set's revision is still `ifRevision` (0: none written), as
   * revision `ifRevision + 1`; undefined (nothing written) when another write came first.
   */
  writeSessionSet(
    service: string,
    sid: string,
    nodes: readonly string[],
    ifRevision: number,
    idleMs: number,
  ): Promise<SessionSet | undefined>;
}

/**
 * The nodes as this instance sees them, and its changes. Reads go to the view every store
 * keeps up to date (in memory, applied in revision order), so lookups never wait on I/O.
 */
export interface ChangeFeed {
  /** The in-memory view of the nodes, and its change feed. */
  readonly view: RegistryView;
  /**
   * Calls `listener` with each change made through this instance (its own writes and the
   * expiries its sweeps performed): across the instances sharing a store, every change is
   * reported by exactly one. Returns how to stop.
   */
  onLocalChange(listener: (event: RegistryEvent) => void): () => void;
}

/** Whether the backing store answers, and its lifecycle. */
export interface StoreHealth {
  /** True when the backing store answers (for health); may stay pending while it stalls. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** A whole registry store: nodes, sessions, changes and health. */
export interface RegistryStore extends NodeStore, SessionStore, SessionSetStore, MarkStore, ChangeFeed, StoreHealth {}
