/** Printing for people (tables) and for programs (JSON lines). */
import {
  NodeMark_Kind,
  WatchEvent_Type,
  type NodeInfo,
  type NodeMark,
  type WatchEvent,
} from "../../generated/islb/islb.js";
import { NodeState } from "../registry/types.js";

/** A plain-text table: a header row, then the rows, columns padded to fit. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function stateName(s: NodeState): string {
  return s === NodeState.NODE_STATE_DRAINING ? "draining" : s === NodeState.NODE_STATE_SERVING ? "serving" : "unknown";
}

export function eventName(t: WatchEvent_Type): string {
  return (WatchEvent_Type[t] ?? "UNKNOWN").replace(/^TYPE_/, "").toLowerCase();
}

export const NODE_HEADER = [
  "NID",
  "SERVICE",
  "DC",
  "REGION",
  "STATE",
  "CPU",
  "SESSIONS",
  "TRACKS",
  "ADDR",
  "LEASE LEFT",
  "MARK",
];

/** A node's state as people read it: an operator's mark (cordoned, draining, drained) over the node's own. */
export function markedState(n: NodeInfo): string {
  const m = n.mark;
  if (m === undefined || m.kind === NodeMark_Kind.KIND_UNSPECIFIED)
    return stateName(n.registration?.state ?? NodeState.NODE_STATE_UNSPECIFIED);
  if (m.kind === NodeMark_Kind.KIND_CORDONED) return "cordoned";
  return Number(m.drainedAtMs) > 0 ? "drained" : "draining";
}

/** Who marked a node, why, and a drain's deadline ("" when unmarked). */
export function markNote(m: NodeMark | undefined, now = Date.now()): string {
  if (m === undefined || m.kind === NodeMark_Kind.KIND_UNSPECIFIED) return "";
  const parts = [`by ${m.by || "?"} (${m.authorizedAs})`];
  if (m.reason !== "") parts.push(m.reason);
  if (Number(m.deadlineMs) > 0 && Number(m.drainedAtMs) === 0)
    parts.push(`deadline in ${Math.max(0, (Number(m.deadlineMs) - now) / 1000).toFixed(0)}s`);
  if (Number(m.drainedAtMs) > 0) parts.push(`drained (${m.drainedReason})`);
  return parts.join("; ");
}

export function nodeRow(n: NodeInfo, now = Date.now()): string[] {
  const r = n.registration;
  const node = r?.node;
  const left = Math.max(0, Number(n.expiresAtMs) - now);
  return [
    node?.nid ?? "",
    node?.service ?? "",
    node?.dc ?? "",
    r?.region ?? "",
    markedState(n),
    (r?.load?.cpu ?? 0).toFixed(2),
    String(r?.load?.sessions ?? 0),
    String(r?.load?.tracks ?? 0),
    node?.rpc?.addr ?? "",
    `${(left / 1000).toFixed(1)}s`,
    markNote(n.mark, now),
  ];
}

export function eventLine(e: WatchEvent): string {
  if (e.session !== undefined) {
    const c = e.session;
    const where = c.nid === "" ? `from ${c.fromNid || "?"}` : `${c.fromNid || "?"} -> ${c.nid}`;
    return `${new Date().toISOString()}  rev ${e.revision}  ${eventName(e.type)} ${c.service}/${c.sid} ${where}${c.reason ? ` (${c.reason})` : ""}`;
  }
  const n = e.node?.registration?.node;
  const what = n === undefined ? "" : ` ${n.nid} (${n.service}${n.dc ? `, ${n.dc}` : ""})`;
  const who = e.by !== "" || e.reason !== "" ? `  by ${e.by || "?"}${e.reason ? `: ${e.reason}` : ""}` : "";
  return `${new Date().toISOString()}  rev ${e.revision}  ${eventName(e.type)}${what}${who}`;
}
