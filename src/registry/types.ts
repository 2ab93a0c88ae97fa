/** What a registry holds and tells, independent of where it keeps it. */
import type { Node } from "../../generated/ion/ion.js";
import { NodeState, type ExtraValue, type Limits, type Load } from "../../generated/islb/islb.js";

export { NodeState };
export type { ExtraValue, Limits, Load, Node };

/** One registered node, as every store keeps it. Treat as immutable: changes make a new record. */
export interface NodeRecord {
  readonly node: Node;
  readonly state: NodeState;
  readonly region: string;
  readonly load: Load;
  readonly soft: Limits;
  readonly hard: Limits;
  /** What the node publishes besides (ion's ExtraInfo), with Go types. */
  readonly extra: ReadonlyMap<string, ExtraValue>;
  readonly registeredAt: number;
  readonly expiresAt: number;
  readonly leaseMs: number;
}

/** Kinds of change, as Watch reports them. */
export type ChangeType = "up" | "updated" | "draining" | "down" | "expired";

/** One change of the registry, numbered by a revision that only grows. */
export interface RegistryEvent {
  readonly type: ChangeType;
  readonly revision: number;
  /** The record after the change (before it, for down and expired). */
  readonly record: NodeRecord;
}

/** Why a write was refused. */
export type Refusal = "token" | "unknown";

/** What a registration or heartbeat did. */
export interface WriteResult {
  readonly revision: number;
  /** Heartbeat only: the node was unknown and was registered again. */
  readonly reregistered?: boolean;
  /** Set when the write was refused (and nothing changed). */
  readonly refused?: Refusal;
}

/** A node releasing one of its own sessions: its id and owner token. */
export interface SessionHost {
  readonly nid: string;
  readonly token: string;
}

/** What a release did. */
export type ReleaseResult = "released" | "none" | "refused";

/** A session's placement. */
export interface Placement {
  readonly nid: string;
  /** True when this call placed it (false: it was already there). */
  readonly placed: boolean;
}

/**
 * The writes and session placements of a registry. Reads go to the RegistryView every store
 * keeps up to date (in memory, applied in revision order), so lookups never wait on I/O.
 */
export interface RegistryStore {
  /** The in-memory view of the nodes, and its change feed. */
  readonly view: import("./view.js").RegistryView;
  /** Registers (or re-registers, with the same token) a node. */
  register(record: NodeRecord, token: string): Promise<WriteResult>;
  /**
   * Renews a lease with fresh load (and state, when given). An unknown node is registered
   * again from `record`, when given; a known one needs its token.
   */
  heartbeat(nid: string, token: string, update: { load: Load; state: NodeState | undefined; expiresAt: number; leaseMs: number }, record: NodeRecord | undefined): Promise<WriteResult>;
  /** Removes a node; needs its token. */
  deregister(nid: string, token: string): Promise<WriteResult>;
  /**
   * The node hosting session `sid` of `service` if it is alive and SERVING; else places the
   * session on `candidate()` atomically (every caller, through any islb instance, gets the
   * same node). Undefined when there is no candidate. Each lookup keeps the session for
   * `idleMs` more.
   */
  placeSession(service: string, sid: string, candidate: () => string | undefined, idleMs: number): Promise<Placement | undefined>;
  /** The node a session is on, without placing it. */
  sessionNode(service: string, sid: string): Promise<string | undefined>;
  /**
   * Forgets a session's placement. With `host`, only when the session is on `host.nid` and
   * `host.token` is that node's owner token ("refused" otherwise); without, unconditionally
   * (the caller checked the admin credential). "none" when nothing was placed.
   */
  releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult>;
  /** Expires the leases that ended before `now`. */
  sweep(now: number): Promise<void>;
  /**
   * Calls `listener` with each change made through this instance (its own writes and the
   * expiries its sweeps performed): across the instances sharing a store, every change is
   * reported by exactly one. Returns how to stop.
   */
  onLocalChange(listener: (event: RegistryEvent) => void): () => void;
  /** True when the backing store answers (for health). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
