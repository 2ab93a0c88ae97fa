/** An operator's mark (cordon, drain) between the records' form and the API's message, and as bytes for stores that keep it outside this process. */
import { NodeMark as NodeMarkMessage, NodeMark_Kind } from "../../generated/islb/islb.js";
import { NodeState, type NodeMark, type NodeRecord } from "./model.js";

const AUTH = new Set(["admin", "owner", "open"]);
const DRAINED = new Set(["", "sessions", "deadline"]);

/** A mark as its API message. */
export function toMarkMessage(m: NodeMark): NodeMarkMessage {
  return {
    kind: m.kind === "cordoned" ? NodeMark_Kind.KIND_CORDONED : NodeMark_Kind.KIND_DRAINING,
    by: m.by,
    reason: m.reason,
    authorizedAs: m.authorizedAs,
    atMs: m.at,
    deadlineMs: m.deadline,
    drainedAtMs: m.drainedAt,
    drainedReason: m.drainedReason,
  };
}

/** A mark from its message; undefined for none (an unspecified kind). */
export function fromMarkMessage(m: NodeMarkMessage | undefined): NodeMark | undefined {
  if (m === undefined || (m.kind !== NodeMark_Kind.KIND_CORDONED && m.kind !== NodeMark_Kind.KIND_DRAINING))
    return undefined;
  return {
    kind: m.kind === NodeMark_Kind.KIND_CORDONED ? "cordoned" : "draining",
    by: m.by,
    reason: m.reason,
    authorizedAs: AUTH.has(m.authorizedAs) ? (m.authorizedAs as NodeMark["authorizedAs"]) : "open",
    at: Number(m.atMs),
    deadline: Number(m.deadlineMs),
    drainedAt: Number(m.drainedAtMs),
    drainedReason: DRAINED.has(m.drainedReason) ? (m.drainedReason as NodeMark["drainedReason"]) : "",
  };
}

/** A mark as base64 of its message ("" for none). */
export function encodeMark(m: NodeMark | undefined): string {
  return m === undefined ? "" : Buffer.from(NodeMarkMessage.encode(toMarkMessage(m)).finish()).toString("base64");
}

export function decodeMark(s: string | undefined): NodeMark | undefined {
  if (s === undefined || s === "") return undefined;
  return fromMarkMessage(NodeMarkMessage.decode(new Uint8Array(Buffer.from(s, "base64"))));
}

/** A node's state as people read it: an operator's mark first (cordoned, draining, drained), else its own state. */
export type StateName = "serving" | "draining" | "drained" | "cordoned" | "unknown";

export function stateName(r: NodeRecord): StateName {
  if (r.mark?.kind === "cordoned") return "cordoned";
  if (r.mark?.kind === "draining") return r.mark.drainedAt > 0 ? "drained" : "draining";
  return r.state === NodeState.NODE_STATE_SERVING
    ? "serving"
    : r.state === NodeState.NODE_STATE_DRAINING
      ? "draining"
      : "unknown";
}
