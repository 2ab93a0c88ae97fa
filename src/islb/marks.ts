/**
 * Operators' marks on nodes: Cordon (no new sessions, keeps its sessions), Drain (no new
 * sessions, its sessions placed elsewhere on their next lookup, with an optional deadline) and
 * Uncordon (clears either: the node takes sessions again). Authorized by the admin credential
 * or the node's own owner token; with no admin credential configured, by anyone who may call
 * islb (as Register is). A draining node is found drained when its heartbeats report no
 * session or its deadline passes: one DRAINED change, whichever instance sees it first.
 */
import type { CallContext } from "nice-grpc-common";
import type { CordonRequest, DrainRequest, NodeMarkReply } from "../../generated/islb/islb.js";
import type { MarkChange, NodeMark, NodeRecord, RegistryStore } from "../registry/types.js";
import { toNodeInfo } from "../registry/records.js";
import { Status, fail } from "../status.js";
import { presentedAdmin, type Authorization } from "./auth.js";
import { checkText, checkToken } from "./validate.js";

const MAX_BY = 128;
const MAX_REASON = 512;
const MAX_TOKEN = 256;

/** How a mark change was authorized. */
type AuthorizedAs = NodeMark["authorizedAs"];

/** What a store call does when the store cannot be reached (the service's `stored`). */
export type Stored = <T>(p: Promise<T>) => Promise<T>;

/** The Cordon, Uncordon and Drain handlers, and the drained check heartbeats run. */
export interface MarkHandlers {
  cordon(req: CordonRequest, context: CallContext): Promise<NodeMarkReply>;
  uncordon(req: CordonRequest, context: CallContext): Promise<NodeMarkReply>;
  drain(req: DrainRequest, context: CallContext): Promise<NodeMarkReply>;
  /** After a heartbeat: marks a draining node drained when it reports no session or its deadline passed. */
  checkDrained(r: NodeRecord | undefined, now: number): Promise<void>;
}

/** The mark RPCs over a store, authorized by `auth`; `stored` maps store outages to UNAVAILABLE. */
export function markHandlers(store: RegistryStore, auth: Authorization, stored: Stored): MarkHandlers {
  const view = store.view;

  /** Checks the request and says how the caller is authorized; the owner token (when that is how) goes to the store. */
  const authorize = (
    what: string,
    req: { nid: string; reason: string; by: string; adminToken: string; token: string },
    context: CallContext,
  ): { as: AuthorizedAs; token?: string } => {
    checkToken("nid", req.nid);
    checkText("reason", req.reason, MAX_REASON);
    checkText("by", req.by, MAX_BY);
    if (req.token.length > MAX_TOKEN) fail(Status.INVALID_ARGUMENT, `token is longer than ${MAX_TOKEN} characters`);
    const presented = presentedAdmin(req.adminToken, context.metadata);
    if (auth.isAdmin(presented)) return { as: "admin" };
    if (req.token !== "") return { as: "owner", token: req.token };
    if (!auth.hasAdmin) return { as: "open" };
    fail(
      Status.PERMISSION_DENIED,
      presented === "" ? `${what} a node needs the admin token, or the node's owner token` : "the admin token is wrong",
    );
  };

  const write = async (nid: string, change: MarkChange): Promise<NodeMarkReply> => {
    const r = await stored(store.markNode(nid, change));
    if (r.refused === "unknown") fail(Status.NOT_FOUND, `node ${nid} is not registered`);
    if (r.refused === "token") fail(Status.PERMISSION_DENIED, `the owner token of node ${nid} does not match`);
    if (r.refused === "stale") fail(Status.ABORTED, `the mark of node ${nid} changed meanwhile; try again`);
    const now = view.get(nid);
    return { node: now === undefined ? undefined : toNodeInfo(now), revision: r.revision };
  };

  const checkDrained = async (r: NodeRecord | undefined, now: number): Promise<void> => {
    const m = r?.mark;
    if (r === undefined || m === undefined || m.kind !== "draining" || m.drainedAt !== 0) return;
    const reason = r.load.sessions === 0 ? "sessions" : m.deadline > 0 && now >= m.deadline ? "deadline" : undefined;
    if (reason === undefined) return;
    const why = reason === "sessions" ? "its sessions reached 0" : "its drain deadline passed";
    // Another instance may have done it first ("stale"): then nothing changes here.
    await store.markNode(r.node.nid, {
      type: "drained",
      mark: { ...m, drainedAt: now, drainedReason: reason },
      note: { by: "islb", reason: why },
      ifMarkedAt: m.at,
    });
  };

  return {
    async cordon(req, context) {
      const a = authorize("cordoning", req, context);
      const mark: NodeMark = {
        kind: "cordoned",
        by: req.by,
        reason: req.reason,
        authorizedAs: a.as,
        at: Date.now(),
        deadline: 0,
        drainedAt: 0,
        drainedReason: "",
      };
      return write(req.nid, { type: "cordoned", mark, note: { by: req.by, reason: req.reason }, token: a.token });
    },

    async uncordon(req, context) {
      const a = authorize("uncordoning", req, context);
      return write(req.nid, {
        type: "uncordoned",
        mark: undefined,
        note: { by: req.by, reason: req.reason },
        token: a.token,
      });
    },

    async drain(req, context) {
      const a = authorize("draining", req, context);
      const at = Date.now();
      const mark: NodeMark = {
        kind: "draining",
        by: req.by,
        reason: req.reason,
        authorizedAs: a.as,
        at,
        deadline: req.deadlineMs > 0 ? at + req.deadlineMs : 0,
        drainedAt: 0,
        drainedReason: "",
      };
      const reply = await write(req.nid, {
        type: "draining",
        mark,
        note: { by: req.by, reason: req.reason },
        token: a.token,
      });
      // A node that hosts nothing now is drained at once.
      await stored(checkDrained(view.get(req.nid), Date.now()));
      const r = view.get(req.nid);
      return r === undefined ? reply : { node: toNodeInfo(r), revision: Math.max(reply.revision, view.revision) };
    },

    checkDrained,
  };
}
