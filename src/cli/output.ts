/** Printing for people (tables) and for programs (JSON lines). */
import { WatchEvent_Type, type NodeInfo, type WatchEvent } from "../../generated/islb/islb.js";
import { NodeState } from "../registry/types.js";

/** A plain-text table: a header row, then the rows, columns padded to fit. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function stateName(s: NodeState): string {
  return s === NodeState.NODE_STATE_DRAINING ? "draining" : s === NodeState.NODE_STATE_SERVING ? "serving" : "unknown";
}

export function eventName(t: WatchEvent_Type): string {
  return (WatchEvent_Type[t] ?? "UNKNOWN").replace(/^TYPE_/, "").toLowerCase();
}

export const NODE_HEADER = ["NID", "SERVICE", "DC", "REGION", "STATE", "CPU", "SESSIONS", "TRACKS", "ADDR", "LEASE LEFT"];

export function nodeRow(n: NodeInfo, now = Date.now()): string[] {
  const r = n.registration;
  const node = r?.node;
  const left = Math.max(0, Number(n.expiresAtMs) - now);
  return [
    node?.nid ?? "",
    node?.service ?? "",
    node?.dc ?? "",
    r?.region ?? "",
    stateName(r?.state ?? NodeState.NODE_STATE_UNSPECIFIED),
    (r?.load?.cpu ?? 0).toFixed(2),
    String(r?.load?.sessions ?? 0),
    String(r?.load?.tracks ?? 0),
    node?.rpc?.addr ?? "",
    `${(left / 1000).toFixed(1)}s`,
  ];
}

export function eventLine(e: WatchEvent): string {
  const n = e.node?.registration?.node;
  const what = n === undefined ? "" : ` ${n.nid} (${n.service}${n.dc ? `, ${n.dc}` : ""})`;
  return `${new Date().toISOString()}  rev ${e.revision}  ${eventName(e.type)}${what}`;
}
