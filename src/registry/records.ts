/** Between the API's messages and the registry's records. */
import { Load as LoadMessage, NodeInfo, type Registration } from "../../generated/islb/islb.js";
import { encodeProto } from "../wire/encode.js";
import { toMarkMessage } from "./marks.js";
import { NodeState, type ExtraValue, type Limits, type Load, type Node, type NodeRecord } from "./types.js";

/** A registration as records are made from it (extra_info optional). */
export type RegistrationInput = Omit<Registration, "extraInfo" | "node"> & {
  node: Node;
  extraInfo?: Map<string, ExtraValue>;
};

export const ZERO_LOAD: Load = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
export const NO_LIMITS: Limits = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };

/** Records are never changed in place, so nodes can share equal parts: one empty params map, one copy of each set of limits. */
const EMPTY_PARAMS: Map<string, string> = new Map();
const EMPTY_EXTRA: Map<string, ExtraValue> = new Map();
const limitsSeen = new Map<string, Limits>();

function shared(l: Limits | undefined): Limits {
  if (l === undefined) return NO_LIMITS;
  const key = `${l.cpu},${l.sessions},${l.tracks},${l.bandwidthIn},${l.bandwidthOut}`;
  const seen = limitsSeen.get(key);
  if (seen !== undefined) return seen;
  if (limitsSeen.size < 4096) limitsSeen.set(key, l);
  return l;
}

/** One copy of each of the strings many nodes repeat (service, dc, region, protocol), up to 4096 of them. */
const stringsSeen = new Map<string, string>();

function intern(s: string): string {
  const seen = stringsSeen.get(s);
  if (seen !== undefined) return seen;
  if (stringsSeen.size < 4096) stringsSeen.set(s, s);
  return s;
}

/**
 * One copy of each RPC endpoint without params (many nodes reach their service through the
 * same NATS URL), up to 4096 of them: 48 bytes a node less.
 */
const rpcsSeen = new Map<string, NonNullable<Node["rpc"]>>();

function sharedRpc(rpc: NonNullable<Node["rpc"]>): NonNullable<Node["rpc"]> {
  if (rpc.params.size > 0) return { protocol: intern(rpc.protocol), addr: rpc.addr, params: rpc.params };
  const key = `${rpc.protocol}\u0000${rpc.addr}`;
  const seen = rpcsSeen.get(key);
  if (seen !== undefined) return seen;
  const made = { protocol: intern(rpc.protocol), addr: rpc.addr, params: EMPTY_PARAMS };
  if (rpcsSeen.size < 4096) rpcsSeen.set(key, made);
  return made;
}

function compact(node: Node): Node {
  return {
    dc: intern(node.dc),
    nid: node.nid,
    service: intern(node.service),
    rpc: node.rpc === undefined ? undefined : sharedRpc(node.rpc),
  };
}

/** A record for a registration, leased from `now` for `leaseMs`. */
export function toRecord(reg: RegistrationInput, leaseMs: number, now: number, registeredAt = now): NodeRecord {
  return {
    node: compact(reg.node),
    state: reg.state === NodeState.NODE_STATE_UNSPECIFIED ? NodeState.NODE_STATE_SERVING : reg.state,
    region: intern(reg.region),
    load: reg.load ?? ZERO_LOAD,
    soft: shared(reg.softLimits),
    hard: shared(reg.hardLimits),
    extra: reg.extraInfo === undefined || reg.extraInfo.size === 0 ? EMPTY_EXTRA : reg.extraInfo,
    registeredAt,
    expiresAt: now + leaseMs,
    leaseMs,
  };
}

/**
 * `r` after a heartbeat: a new load, state and lease, the rest shared. One literal of
 * toRecord's shape rather than a spread (the spread was the heartbeat's dearest line); every
 * field of NodeRecord must be named here (the type says so: a field added to NodeRecord fails
 * to compile until it is), the mark only when there is one.
 */
export function beaten(r: NodeRecord, load: Load, state: NodeState, expiresAt: number, leaseMs: number): NodeRecord {
  const next: Omit<Required<NodeRecord>, "mark"> = {
    node: r.node,
    state,
    region: r.region,
    load,
    soft: r.soft,
    hard: r.hard,
    extra: r.extra,
    registeredAt: r.registeredAt,
    expiresAt,
    leaseMs,
  };
  return r.mark === undefined ? next : { ...next, mark: r.mark };
}

export function toRegistration(r: NodeRecord): Registration {
  return {
    node: r.node,
    state: r.state,
    region: r.region,
    load: r.load,
    softLimits: r.soft,
    hardLimits: r.hard,
    extraInfo: new Map(r.extra),
  };
}

export function toNodeInfo(r: NodeRecord): NodeInfo {
  return {
    registration: toRegistration(r),
    registeredAtMs: r.registeredAt,
    expiresAtMs: r.expiresAt,
    leaseMs: r.leaseMs,
    mark: r.mark === undefined ? undefined : toMarkMessage(r.mark),
  };
}

/**
 * A record as bytes (a NodeInfo message), for stores that keep records outside this process.
 * Without its mark: a store keeps the mark apart (see RegistryView), so a record written from
 * a stale view cannot bring back a mark that was lifted.
 */
export function encodeRecord(r: NodeRecord): Uint8Array {
  const info = r.mark === undefined ? toNodeInfo(r) : { ...toNodeInfo(r), mark: undefined };
  return encodeProto(NodeInfo, info);
}

export function decodeRecord(bytes: Uint8Array): NodeRecord {
  const info = NodeInfo.decode(bytes);
  const reg = info.registration;
  if (reg?.node === undefined) throw new Error("stored node has no registration");
  return toRecord(
    { ...reg, node: reg.node },
    info.leaseMs,
    Number(info.expiresAtMs) - info.leaseMs,
    Number(info.registeredAtMs),
  );
}

/** A load as bytes (an islb.Load message), for stores that write load apart from the record. */
export function encodeLoad(l: Load): Uint8Array {
  return encodeProto(LoadMessage, l);
}

export function decodeLoad(bytes: Uint8Array): Load {
  return LoadMessage.decode(bytes);
}
