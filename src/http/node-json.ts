/** A registry record as the cluster page reads it: plain JSON, numbers as numbers. */
import { stateName, type StateName } from "../registry/marks.js";
import type { Limits, Load, NodeRecord } from "../registry/types.js";

export interface FiguresJson {
  cpu: number;
  sessions: number;
  tracks: number;
  /** Bits per second, in plus out. */
  bandwidth: number;
}

export interface NodeJson {
  nid: string;
  service: string;
  dc: string;
  region: string;
  /** An operator's mark (cordoned, draining, drained) over the node's own state. */
  state: StateName;
  load: FiguresJson;
  soft: FiguresJson;
  hard: FiguresJson;
  registeredAt: number;
  expiresAt: number;
  leaseMs: number;
  addr: string;
}

const figures = (x: Load | Limits): FiguresJson => ({
  cpu: x.cpu,
  sessions: x.sessions,
  tracks: x.tracks,
  bandwidth: Number(x.bandwidthIn) + Number(x.bandwidthOut),
});

export function nodeJson(r: NodeRecord): NodeJson {
  return {
    nid: r.node.nid,
    service: r.node.service,
    dc: r.node.dc,
    region: r.region,
    state: stateName(r),
    load: figures(r.load),
    soft: figures(r.soft),
    hard: figures(r.hard),
    registeredAt: r.registeredAt,
    expiresAt: r.expiresAt,
    leaseMs: r.leaseMs,
    addr: r.node.rpc?.addr ?? "",
  };
}
