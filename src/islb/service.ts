/**
 * The ISLB service: registration with leases, heartbeats, watch, and FindNode with load
 * balancing and session affinity (explained on request: explain.ts), operators' cordons and
 * drains (marks.ts), over a registry store and a balancer. No NATS code here.
 */
import { randomBytes } from "node:crypto";
import type { CallContext } from "nice-grpc-common";
import type {
  DeregisterRequest,
  FindNodeReply,
  FindNodeRequest,
  HeartbeatReply,
  HeartbeatRequest,
  ISLBServiceImplementation,
  RegisterReply,
  RegisterRequest,
  ReleaseSessionRequest,
  WatchEvent,
  WatchRequest,
} from "../../generated/islb/islb.js";
import type { Empty } from "../../generated/ion/ion.js";
import type { Balancer } from "../balancer/balancer.js";
import {
  NodeState,
  type NodeRecord,
  type RegistryStore,
  type SessionChangeInput,
  type SessionHost,
} from "../registry/types.js";
import type { SessionEventsMode } from "../registry/model.js";
import { Status, fail } from "../status.js";
import { toRecord } from "../registry/records.js";
import { checkLoad, checkOptionalToken, checkRegistration, checkSid, checkToken } from "./validate.js";
import { watchNodes } from "./watch.js";
import { Authorization, presentedAdmin } from "./auth.js";
import { StoreFullError, StoreUnavailableError } from "../registry/errors.js";
import { toMarkMessage } from "../registry/marks.js";
import type { PickTrace } from "../balancer/balancer.js";
import { explainEnd, explainStart } from "./explain.js";
import { markHandlers } from "./marks.js";
import { SessionReports, checkReport } from "./session-reports.js";
import { DEFAULT_MAX_NODES, MAX_MAX_NODES, lookupSet } from "./session-sets.js";

export interface IslbOptions {
  /** Lease granted when a node asks for none (default 6000 ms). */
  leaseMs?: number;
  /** Bounds of the lease a node may ask for (default 1000 … 300000 ms). */
  minLeaseMs?: number;
  maxLeaseMs?: number;
  /** How often nodes are told to heartbeat (default a third of their lease). */
  heartbeatMs?: number;
  /** A session's placement is kept this long after its last lookup (default 10 minutes). */
  sessionIdleMs?: number;
  /** Registration secrets by service: a node of such a service must present it (ignored when `auth` is given). */
  secrets?: Record<string, string>;
  /** The registry's authorization (secrets, admin credential), shared with every other way in (nats-discovery). */
  auth?: Authorization;
  /**
   * After a loss of placements (a reporting node registered again, a reloaded view), how long a
   * lookup of a session the store does not know waits for the nodes' reports before placing it
   * (default one and a half heartbeats of the default lease; 0: never). Only once nodes report
   * sessions (the agent's `sessions`): see session-reports.ts.
   */
  relearnHoldMs?: number;
  /** Changes a watcher may fall behind before it is ended (default 10,000). */
  watchBacklog?: number;
  /**
   * Which session events are announced: "moves" (default: moved, expanded, released) or "all"
   * (also "placed" for each placement re-learnt from a node's report). New placements ("placed",
   * reason "new") and idle expiries ("expired") are the store's to announce: give the store the
   * same setting (openStore does).
   */
  sessionEvents?: SessionEventsMode;
  /**
   * Aborted when this instance stops: its Watch streams end at once, UNAVAILABLE with the
   * revision to resume from (on another instance), instead of holding the stop's drain.
   */
  stopping?: AbortSignal;
}

/** What one FindNode did, for metrics. */
export type Lookup = "node" | "list" | "session-known" | "session-placed";

export interface IslbHooks {
  /** After each successful FindNode. */
  onLookup?(kind: Lookup, service: string): void;
  /** A session event (a move, a release) the store could not record. */
  onAnnounceFailed?(err: unknown): void;
  /** Sessions a node reported while another node hosts them (a conflict; the placement recorded wins). */
  onSessionConflict?(service: string, count: number): void;
}

const MAX_TOKEN = 256;

/** A reply without a session node set (no overflow asked). */
/** A heartbeat's answer when it reports no sessions (frozen: every such reply shares it). */
const NO_REPORT = Object.freeze({ wantSessions: false, sessionConflicts: Object.freeze([]) as unknown as never[] });
const noSet = (): { sessionNodes: string[]; sessionRevision: number } => ({ sessionNodes: [], sessionRevision: 0 });

export function createIslbService(
  store: RegistryStore,
  balancer: Balancer,
  options: IslbOptions = {},
  hooks: IslbHooks = {},
): ISLBServiceImplementation {
  const view = store.view;
  const defaultLease = options.leaseMs ?? 6000;
  const minLease = options.minLeaseMs ?? 1000;
  const maxLease = options.maxLeaseMs ?? 300_000;
  const idleMs = options.sessionIdleMs ?? 600_000;
  const auth = options.auth ?? new Authorization({ secrets: options.secrets });
  const backlog = options.watchBacklog ?? 10_000;

  const lease = (asked: number): number => Math.min(maxLease, Math.max(minLease, asked > 0 ? asked : defaultLease));
  const heartbeatOf = (leaseMs: number): number => options.heartbeatMs ?? Math.max(100, Math.floor(leaseMs / 3));
  const alive = (r: NodeRecord | undefined, now: number): r is NodeRecord => r !== undefined && r.expiresAt > now;

  const checkSecret = (service: string, secret: string): void => {
    const problem = auth.registrationProblem(service, secret);
    if (problem !== undefined) fail(Status.PERMISSION_DENIED, problem);
  };
  const checkOwnerToken = (token: string): void => {
    if (token === "") fail(Status.INVALID_ARGUMENT, "token is required");
    if (token.length > MAX_TOKEN) fail(Status.INVALID_ARGUMENT, `token is longer than ${MAX_TOKEN} characters`);
  };
  /** A store call; a store that cannot be reached is UNAVAILABLE (retry middleware retries it). */
  const stored = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      if (e instanceof StoreUnavailableError) fail(Status.UNAVAILABLE, e.message);
      if (e instanceof StoreFullError) fail(Status.RESOURCE_EXHAUSTED, e.message);
      throw e;
    }
  };
  const marks = markHandlers(store, auth, stored);
  const allEvents = options.sessionEvents === "all";
  /** A session event for watchers; a store that fails it loses the event, not the lookup. */
  const announce = async (change: SessionChangeInput): Promise<void> => {
    if (!allEvents && (change.type === "placed" || change.type === "expired")) return;
    try {
      await store.noteSession(change);
    } catch (e) {
      hooks.onAnnounceFailed?.(e);
    }
  };
  const announceMove = (service: string, sid: string, nid: string, from: string, now: number): Promise<void> => {
    const old = view.get(from);
    const reason =
      old === undefined || old.expiresAt <= now
        ? "host gone"
        : old.mark?.kind === "draining"
          ? "host draining (operator)"
          : old.state !== NodeState.NODE_STATE_SERVING
            ? "host draining"
            : "host could not keep it";
    return announce({ type: "moved", service, sid, nid, from, reason });
  };
  const reports = new SessionReports(
    store,
    idleMs,
    announce,
    { onConflict: hooks.onSessionConflict },
    options.relearnHoldMs ?? Math.round(1.5 * heartbeatOf(defaultLease)),
  );
  const refusedToken = (nid: string): never =>
    fail(Status.PERMISSION_DENIED, `node ${nid} is registered by another owner (the token does not match)`);

  return {
    async findNode(req: FindNodeRequest): Promise<FindNodeReply> {
      checkSid(req.sid);
      checkOptionalToken("nid", req.nid, true);
      checkOptionalToken("service", req.service, true);
      checkOptionalToken("region", req.region);
      checkOptionalToken("dc", req.dc);
      checkOptionalToken("full_nid", req.fullNid);
      if (req.overflow && req.sid === "")
        fail(Status.INVALID_ARGUMENT, "overflow needs a sid: only a session's node set can grow");
      if (req.maxNodes > MAX_MAX_NODES)
        fail(Status.INVALID_ARGUMENT, `max_nodes is at most ${MAX_MAX_NODES}, not ${req.maxNodes}`);
      const now = Date.now();
      const anyService = req.service === "" || req.service === "*";
      if (req.nid !== "" && req.nid !== "*") {
        const r = view.get(req.nid);
        hooks.onLookup?.("node", req.service);
        const found = alive(r, now) && (anyService || r.node.service === req.service);
        return {
          nodes: found ? [r.node] : [],
          explanation: req.explain
            ? explainEnd(
                explainStart(balancer, found ? [r] : [], { region: req.region, dc: req.dc }),
                found ? "node" : "none",
                found ? r.node.nid : "",
                undefined,
              )
            : undefined,
          ...noSet(),
        };
      }
      const pref = { region: req.region, dc: req.dc };
      if (req.sid !== "") {
        if (anyService)
          fail(
            Status.INVALID_ARGUMENT,
            "a session lookup needs a service: sessions are placed on a node of one service",
          );
        // Just after a loss of placements: wait (bounded) for the hosts' reports before placing anew.
        if (reports.holding) await stored(reports.settle(req.service, req.sid));
        const ex = req.explain ? explainStart(balancer, view.nodesOf(req.service), pref) : undefined;
        const trace: PickTrace | undefined = ex === undefined ? undefined : { drawn: [], tier: "" };
        // Each call picks another node: the store asks again when its view is ahead of ours (a node just cordoned elsewhere).
        let first: string | undefined;
        let tried: Set<string> | undefined;
        const candidate = (): string | undefined => {
          if (first !== undefined) tried ??= new Set([first]);
          const nid = balancer.pick(req.service, pref, tried, trace);
          if (first === undefined) first = nid;
          else if (nid !== undefined) tried?.add(nid);
          return nid;
        };
        let movedFrom: string | undefined;
        const p = await stored(
          store.placeSession(req.service, req.sid, candidate, idleMs, (from) => (movedFrom = from)),
        );
        if (p === undefined) {
          if (view.countOf(req.service) === 0)
            fail(Status.NOT_FOUND, `no node of service ${req.service} is registered`);
          if (ex !== undefined) return { nodes: [], explanation: explainEnd(ex, "none", "", trace), ...noSet() };
          fail(
            Status.RESOURCE_EXHAUSTED,
            `no node of service ${req.service} can take a new session: all are draining, cordoned or at their hard limits`,
          );
        }
        if (p.placed) balancer.notePlaced(p.nid);
        if (movedFrom !== undefined) await announceMove(req.service, req.sid, p.nid, movedFrom, now);
        hooks.onLookup?.(p.placed ? "session-placed" : "session-known", req.service);
        const explanation =
          ex === undefined
            ? undefined
            : explainEnd(ex, p.placed ? "placed" : "known", p.nid, p.placed ? trace : undefined);
        if (req.overflow) {
          const set = await stored(
            lookupSet(
              {
                service: req.service,
                sid: req.sid,
                primary: p.nid,
                pref,
                fullNid: req.fullNid,
                maxNodes: req.maxNodes || DEFAULT_MAX_NODES,
                idleMs,
              },
              store,
              balancer,
              announce,
            ),
          );
          // The node to join (the set's last) first, then the others in set order.
          const join = set.nodes[set.nodes.length - 1];
          const order = [join, ...set.nodes.filter((n) => n !== join)];
          return {
            nodes: order.flatMap((n) => {
              const m = n === undefined ? undefined : view.nodeOf(n);
              return m === undefined ? [] : [m];
            }),
            explanation,
            sessionNodes: [...set.nodes],
            sessionRevision: set.revision,
          };
        }
        const node = view.nodeOf(p.nid);
        return { nodes: node === undefined ? [] : [node], explanation, ...noSet() };
      }
      const live = view.nodesOf(req.service).filter((r) => r.expiresAt > now);
      hooks.onLookup?.("list", req.service);
      const nodes = balancer.ranked(live, pref, req.limit).map((r) => r.node);
      return {
        nodes,
        explanation: req.explain
          ? explainEnd(explainStart(balancer, live, pref), "list", nodes[0]?.nid ?? "", undefined)
          : undefined,
        ...noSet(),
      };
    },

    async register(req: RegisterRequest): Promise<RegisterReply> {
      const reg = checkRegistration(req.registration);
      checkSecret(reg.node.service, req.secret);
      if (req.token !== "") checkOwnerToken(req.token);
      const token = req.token || randomBytes(18).toString("base64url");
      const leaseMs = lease(req.leaseMs);
      const now = Date.now();
      const r = await stored(store.register(toRecord(reg, leaseMs, now, view.get(reg.node.nid)?.registeredAt), token));
      if (r.refused === "token") refusedToken(reg.node.nid);
      return { token, leaseMs, heartbeatMs: heartbeatOf(leaseMs), revision: r.revision };
    },

    async heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply> {
      checkToken("nid", req.nid);
      checkOwnerToken(req.token);
      checkLoad(req.load);
      checkReport(req);
      const leaseMs = lease(req.leaseMs);
      const now = Date.now();
      let record: NodeRecord | undefined;
      if (req.registration !== undefined) {
        const reg = checkRegistration(req.registration);
        if (reg.node.nid !== req.nid)
          fail(Status.INVALID_ARGUMENT, `the registration is of node ${reg.node.nid}, not ${req.nid}`);
        checkSecret(reg.node.service, req.secret);
        record = toRecord(reg, leaseMs, now);
      }
      const state = req.state === NodeState.NODE_STATE_UNSPECIFIED ? undefined : req.state;
      const load = req.load ?? view.get(req.nid)?.load ?? record?.load;
      if (load === undefined)
        fail(
          Status.NOT_FOUND,
          `node ${req.nid} is not registered: register it, or send its registration with the heartbeat`,
        );
      const r = await stored(
        store.heartbeat(req.nid, req.token, { load, state, expiresAt: now + leaseMs, leaseMs }, record),
      );
      if (r.refused === "unknown")
        fail(
          Status.NOT_FOUND,
          `node ${req.nid} is not registered: register it, or send its registration with the heartbeat`,
        );
      if (r.refused === "token") refusedToken(req.nid);
      // Only the mark and the service are read (a load-only heartbeat changes neither): the view
      // may take this heartbeat's own change after the reply (RegistryView.defer).
      let mark = view.markOf(req.nid);
      if (mark !== undefined) {
        const marked = view.get(req.nid);
        if (marked !== undefined) {
          await stored(marks.checkDrained(marked, now));
          mark = view.markOf(req.nid);
        }
      }
      // No session report (the digest empty): nothing to wait for, no promise per heartbeat.
      const sessions =
        req.sessionsDigest === ""
          ? NO_REPORT
          : await stored(
              reports.apply(
                req,
                view.nodeOf(req.nid)?.service ?? record?.node.service ?? "",
                r.reregistered === true,
                heartbeatOf(leaseMs),
              ),
            );
      return {
        reregistered: r.reregistered === true,
        leaseMs,
        heartbeatMs: heartbeatOf(leaseMs),
        revision: r.revision,
        mark: mark === undefined ? undefined : toMarkMessage(mark),
        wantSessions: sessions.wantSessions,
        sessionConflicts: sessions.sessionConflicts,
      };
    },

    async deregister(req: DeregisterRequest): Promise<Empty> {
      checkToken("nid", req.nid);
      checkOwnerToken(req.token);
      const r = await stored(store.deregister(req.nid, req.token));
      if (r.refused === "token") refusedToken(req.nid);
      return {};
    },

    watch(req: WatchRequest, context: CallContext): AsyncIterable<WatchEvent> {
      return watchNodes(view, req, context.signal, backlog, options.stopping);
    },

    async releaseSession(req: ReleaseSessionRequest, context: CallContext): Promise<Empty> {
      checkSid(req.sid);
      if (req.sid === "") fail(Status.INVALID_ARGUMENT, "sid is required");
      checkToken("service", req.service);
      let host: SessionHost | undefined;
      if (!auth.isAdmin(presentedAdmin(req.adminToken, context.metadata))) {
        if (req.nid === "" || req.token === "") {
          fail(
            Status.PERMISSION_DENIED,
            auth.hasAdmin
              ? "releasing a session needs the hosting node's nid and owner token, or the admin token"
              : "releasing a session needs the hosting node's nid and owner token",
          );
        }
        checkToken("nid", req.nid);
        checkOwnerToken(req.token);
        host = { nid: req.nid, token: req.token };
      }
      // Who hosted it, for the session event: the releasing host, or (an admin's release) the store's word just before.
      const from = host?.nid ?? (await stored(store.sessionNode(req.service, req.sid))) ?? "";
      const r = await stored(store.releaseSession(req.service, req.sid, host));
      if (r === "refused")
        fail(
          Status.PERMISSION_DENIED,
          `session ${req.sid} of ${req.service} is not hosted by node ${req.nid} with that owner token`,
        );
      if (r === "released")
        await announce({
          type: "released",
          service: req.service,
          sid: req.sid,
          nid: "",
          from,
          reason: host === undefined ? "released by admin" : "released by host",
        });
      return {};
    },

    cordon: marks.cordon,
    uncordon: marks.uncordon,
    drain: marks.drain,
  };
}
