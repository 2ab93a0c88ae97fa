/** What a registry holds and tells (records, changes, results of writes), independent of where it keeps them. */
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
  /**
   * The operator's mark (cordon, drain), kept by the store apart from what the node's
   * heartbeats write and merged into every record the view holds (see RegistryView.apply).
   */
  readonly mark?: NodeMark;
}

/** What an operator's mark does: cordoned keeps its sessions; draining has them placed elsewhere. */
export type MarkKind = "cordoned" | "draining";

/** An operator's mark on a node. Immutable. */
export interface NodeMark {
  readonly kind: MarkKind;
  /** Who set it and why (the caller's words), and how the caller was authorized. */
  readonly by: string;
  readonly reason: string;
  readonly authorizedAs: "admin" | "owner" | "open";
  /** When it was set (ms since the epoch). */
  readonly at: number;
  /** Draining: when the drain ends whatever the node still hosts (0: none). */
  readonly deadline: number;
  /** Draining: when the node was found drained (0: not yet), and why. */
  readonly drainedAt: number;
  readonly drainedReason: "" | "sessions" | "deadline";
}

/** Who made a mark change and why (shown with its event). */
export interface MarkNote {
  readonly by: string;
  readonly reason: string;
}

/** True when the node takes new sessions: SERVING and not marked by an operator. */
export function takesNewSessions(r: Pick<NodeRecord, "state" | "mark">): boolean {
  return r.state === NodeState.NODE_STATE_SERVING && r.mark === undefined;
}

/** True when the node keeps the sessions it hosts: SERVING and not being drained by an operator (a cordon keeps them). */
export function keepsSessions(r: Pick<NodeRecord, "state" | "mark">): boolean {
  return r.state === NodeState.NODE_STATE_SERVING && r.mark?.kind !== "draining";
}

/** Kinds of change, as Watch reports them. */
export type ChangeType = "up" | "updated" | "draining" | "down" | "expired" | MarkChangeType;

/** Changes of an operator's mark (an operator's drain is "draining", with a note). */
export type MarkChangeType = "cordoned" | "uncordoned" | "drained";

/** One change of the registry, numbered by a revision that only grows. */
export interface RegistryEvent {
  readonly type: ChangeType;
  readonly revision: number;
  /** The record after the change (before it, for down and expired). */
  readonly record: NodeRecord;
  /**
   * Set on changes of the operator's mark only (cordoned, uncordoned, an operator's draining,
   * drained): who and why. The view takes the record's mark as the node's mark from then on.
   */
  readonly note?: MarkNote;
}

/** Why a write was refused. */
export type Refusal = "token" | "unknown" | "stale";

/** What a registration or heartbeat did. */
export interface WriteResult {
  readonly revision: number;
  /** Heartbeat only: the node was unknown and was registered again. */
  readonly reregistered?: boolean;
  /** Set when the write was refused (and nothing changed). */
  readonly refused?: Refusal;
}

/** What a change of an operator's mark asks for (see MarkStore). */
export interface MarkChange {
  /** The change as Watch reports it: an operator's drain is "draining". */
  readonly type: "cordoned" | "uncordoned" | "draining" | "drained";
  /** The node's mark after the change (undefined: cleared). */
  readonly mark: NodeMark | undefined;
  readonly note: MarkNote;
  /** When set, the node's owner token must be this ("token" otherwise). */
  readonly token?: string;
  /** When set, only while the node's current mark was set at this time and is not drained, 0 while it has none ("stale" otherwise). */
  readonly ifMarkedAt?: number;
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
 * Kinds of session change: "placed" and "expired" only when the registry runs with session
 * events "all" (see SessionEventsMode).
 */
export type SessionChangeType = "moved" | "released" | "expanded" | "placed" | "expired";

/** Which session events a registry records: "moves" (moved, expanded, released) or "all" (also placed, expired). */
export type SessionEventsMode = "moves" | "all";

/** A change of a session's placement, as Watch reports it (session events). */
export interface SessionChangeInput {
  readonly type: SessionChangeType;
  readonly service: string;
  readonly sid: string;
  /** The node hosting it now ("" once released or expired). */
  readonly nid: string;
  readonly from: string;
  readonly reason: string;
}

/** A session change with its revision (in the registry's one sequence of revisions). */
export interface SessionEvent extends SessionChangeInput {
  readonly revision: number;
}

/**
 * What re-learning one reported session did (see SessionStore.adoptSessions): "adopted" (it was
 * placed nowhere: now on the reporting node), "kept" (already there: its idle time renewed),
 * "moved" (placed on a node that could not keep it: now on the reporting node), "conflict"
 * (another node that keeps it hosts it: that placement wins), "refused" (the reporting node
 * cannot keep sessions: not alive, not SERVING, draining, or of another service).
 */
export type AdoptOutcome = "adopted" | "kept" | "moved" | "conflict" | "refused";

/** One reported session's outcome: `nid` is the node hosting it after the call ("" when refused). */
export interface Adoption {
  readonly sid: string;
  readonly outcome: AdoptOutcome;
  readonly nid: string;
  /** "moved": the node it was placed on before. */
  readonly from?: string;
}

/**
 * A session's node set (FindNodeRequest.overflow: a room that spans nodes), in its recorded
 * order: the node it was placed on first, then each node added. Immutable.
 */
export interface SessionSet {
  readonly nodes: readonly string[];
  /** Grows by one with each write of the set (0: never written: a set of one node). */
  readonly revision: number;
}
