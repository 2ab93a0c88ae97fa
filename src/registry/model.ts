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
