/** The nodes bench/service.ts registers in the real islb, and the calls its clients make on them. */
import { NodeState, type HeartbeatRequest, type RegisterRequest } from "../generated/islb/islb.js";

/** The bare responder's subject (bench/peer.ts's). */
export const BARE_SUBJECT = "bench.bare.FindNode";
/** The service listed (5 nodes, so its reply is the size of the bare responder's). */
export const LIST_SERVICE = "list";
/** The service sessions are placed on, and whose nodes heartbeat. */
export const SESSION_SERVICE = "rtc";
/** Nodes of SESSION_SERVICE. */
export const FLEET = 1000;
/** Sessions the known-session clients look up, round robin. */
export const KNOWN = 1000;
const LEASE_MS = 300_000;
const zero = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };

/** Registration i of `service`, with the token `tok-<service>-<i>`. */
export function registration(service: string, i: number): RegisterRequest {
  return {
    registration: {
      node: {
        dc: `dc${i % 4}`,
        nid: `${service}-${i}`,
        service,
        rpc: { protocol: "nats-grpc", addr: "nats://10.0.0.1:4222", params: new Map([["region", `r${i % 4}`]]) },
      },
      state: NodeState.NODE_STATE_SERVING,
      region: `r${i % 4}`,
      load: { ...zero, sessions: i % 100, cpu: (i % 100) / 100 },
      softLimits: { ...zero, sessions: 1_000_000 },
      hardLimits: { ...zero },
      extraInfo: new Map(),
    },
    token: `tok-${service}-${i}`,
    leaseMs: LEASE_MS,
    secret: "",
  };
}

/** The k-th heartbeat of node i of SESSION_SERVICE: only its load changes. */
export function heartbeatOf(i: number, k: number): HeartbeatRequest {
  return {
    nid: `${SESSION_SERVICE}-${i}`,
    token: `tok-${SESSION_SERVICE}-${i}`,
    load: { ...zero, sessions: k % 50, cpu: (k % 50) / 100 },
    leaseMs: LEASE_MS,
    state: NodeState.NODE_STATE_UNSPECIFIED,
    registration: undefined,
    secret: "",
    sessionsAdded: [],
    sessionsRemoved: [],
    sessionsFull: false,
    sessionsDigest: "",
  };
}
