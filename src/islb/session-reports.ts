/**
 * The sessions nodes report with their heartbeats (HeartbeatRequest.sessions_*), so that a
 * registry that lost its placements (a wiped store, a restart without persistence) re-learns
 * them and a live room is never split. Added sessions are re-learnt by the store's
 * adoptSessions (the rule: src/registry/session-adopt.ts, the placement already recorded wins);
 * removed ones are released when they are still placed on the reporter. A node is asked for its
 * full list (HeartbeatReply.want_sessions) when the registry re-registered it, or when this
 * instance has not had its full list since the instance started or its view was reloaded.
 *
 * Between a loss and the reports, a lookup of a live room whose host has not reported yet would
 * place it anew (a split): so, once this instance has seen nodes report sessions, a loss (a
 * reporting node registered again by its heartbeat, or this instance's view reloaded) opens a
 * hold: for `holdMs` (one and a half heartbeats of the node), a lookup of a session the store
 * does not know waits for it to be reported (`settle`) before placing it.
 *
 * A reloaded view also names the nodes it had before: the hold lasts until each of them is
 * registered again (then `holdMs` more, for its full list, which follows its registration at
 * once) or its lease as it was has ended (it is gone). A node that comes back late, its
 * heartbeat slowed by a busy machine, still finds its rooms held for it.
 */
import type { HeartbeatRequest, SessionConflict } from "../../generated/islb/islb.js";
import type { RegistryStore, SessionChangeInput } from "../registry/types.js";
import { Status, fail } from "../status.js";
import { MAX_REPORTED, digestCount, sessionsDigest } from "./session-digest.js";
import { checkSid } from "./validate.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface ReportHooks {
  /** Sessions reported by a node while another node hosts them (the reporter is told). */
  onConflict?(service: string, count: number): void;
}

/** What the heartbeat reply says about the node's sessions. */
export interface ReportAnswer {
  wantSessions: boolean;
  sessionConflicts: SessionConflict[];
}

const NONE: ReportAnswer = { wantSessions: false, sessionConflicts: [] };

/** Checks a heartbeat's session report (INVALID_ARGUMENT when it is malformed or too long). */
export function checkReport(req: HeartbeatRequest): void {
  const n = req.sessionsAdded.length + req.sessionsRemoved.length;
  if (n > MAX_REPORTED)
    fail(Status.INVALID_ARGUMENT, `a heartbeat reports at most ${MAX_REPORTED} sessions (added and removed), not ${n}`);
  for (const sid of req.sessionsAdded) checkReported(sid);
  for (const sid of req.sessionsRemoved) checkReported(sid);
  if (req.sessionsDigest === "") {
    if (n > 0 || req.sessionsFull)
      fail(Status.INVALID_ARGUMENT, "a heartbeat that reports sessions needs sessions_digest");
    return;
  }
  const count = digestCount(req.sessionsDigest);
  if (count === undefined)
    fail(
      Status.INVALID_ARGUMENT,
      `sessions_digest must be "<count>:<16 hex digits>", not ${JSON.stringify(req.sessionsDigest.slice(0, 40))}`,
    );
  // A full list in one heartbeat can be checked against its digest.
  if (
    req.sessionsFull &&
    count === req.sessionsAdded.length &&
    sessionsDigest(new Set(req.sessionsAdded)) !== req.sessionsDigest
  )
    fail(Status.INVALID_ARGUMENT, "the full list of sessions does not match sessions_digest");
}

function checkReported(sid: string): void {
  if (sid === "") fail(Status.INVALID_ARGUMENT, "a reported session id is empty");
  checkSid(sid);
}

/** How often a held lookup asks the store whether its session was reported. */
const SETTLE_POLL_MS = 50;

export class SessionReports {
  /** Nodes whose full list this instance has had since it started or its view was last reloaded. */
  private readonly full = new Set<string>();
  /** True once a node reported sessions to this instance: only then does a loss hold lookups. */
  private reporting = false;
  /** Until when lookups of sessions the store does not know wait for reports (0: no hold). */
  private holdUntil = 0;
  /** After a reload: nodes of the view before it not yet registered again, and their lease end as it was. */
  private readonly awaited = new Map<string, number>();
  /** The latest lease end in `awaited` (checked again when it passes). */
  private awaitUntil = 0;

  /**
   * @param holdMs how long a loss holds lookups of unknown sessions (see the file's comment), at
   * least; a node registered again holds for one and a half of its heartbeats if that is longer; 0: never
   */
  constructor(
    private readonly store: RegistryStore,
    private readonly idleMs: number,
    private readonly announce: (change: SessionChangeInput) => Promise<void>,
    private readonly hooks: ReportHooks = {},
    private readonly holdMs = 0,
  ) {
    store.view.onResync((_, before) => {
      this.full.clear();
      if (!this.reporting || this.holdMs <= 0) return;
      this.hold(this.holdMs);
      const now = Date.now();
      for (const [nid, until] of before)
        if (until > now && store.view.table.slotOf(nid) === undefined) {
          this.awaited.set(nid, until);
          this.awaitUntil = Math.max(this.awaitUntil, until);
        }
    });
    store.view.subscribe((e) => {
      const nid = e.record.node.nid;
      if (e.type === "down" || e.type === "expired") this.full.delete(nid);
      // Back: its full list follows at once.
      else if (e.type === "up" && this.awaited.delete(nid)) this.hold(this.holdMs);
    });
  }

  /**
   * Applies a checked report of node `nid` (with owner `token`, of `service`) after its heartbeat
   * was accepted; `reregistered`: the registry had lost the node.
   */
  async apply(
    req: HeartbeatRequest,
    service: string,
    reregistered: boolean,
    heartbeatMs: number,
  ): Promise<ReportAnswer> {
    if (req.sessionsDigest === "") return NONE;
    const nid = req.nid;
    const count = digestCount(req.sessionsDigest) ?? 0;
    this.reporting = true;
    if (reregistered) {
      this.full.delete(nid);
      if (count > 0) this.hold(Math.max(this.holdMs, 1.5 * heartbeatMs));
    }
    for (const sid of req.sessionsRemoved) {
      const r = await this.store.releaseSession(service, sid, { nid, token: req.token });
      if (r === "released")
        await this.announce({
          type: "released",
          service,
          sid,
          nid: "",
          from: nid,
          reason: "released by host (reported)",
        });
    }
    const conflicts: SessionConflict[] = [];
    if (req.sessionsAdded.length > 0) {
      const out = await this.store.adoptSessions(service, nid, req.sessionsAdded, this.idleMs);
      for (const a of out) {
        if (a.outcome === "conflict") {
          // A member of the session's node set (overflow) hosts part of it: no conflict.
          const set = await this.store.sessionSet(service, a.sid, this.idleMs);
          if (set === undefined || !set.nodes.includes(nid)) conflicts.push({ sid: a.sid, nid: a.nid });
        } else if (a.outcome === "moved" && a.from !== undefined)
          await this.announce({ type: "moved", service, sid: a.sid, nid, from: a.from, reason: "reported by host" });
        // Announced only with session events "all" (the announcer drops it otherwise).
        else if (a.outcome === "adopted")
          await this.announce({ type: "placed", service, sid: a.sid, nid, from: "", reason: "reported by host" });
      }
      if (conflicts.length > 0) this.hooks.onConflict?.(service, conflicts.length);
    }
    if (req.sessionsFull || count === 0) this.full.add(nid);
    return { wantSessions: !req.sessionsFull && count > 0 && !this.full.has(nid), sessionConflicts: conflicts };
  }

  private hold(ms: number): void {
    if (ms > 0 && this.holdMs > 0) this.holdUntil = Math.max(this.holdUntil, Date.now() + ms);
  }

  /**
   * Resolves at once unless a loss holds lookups (see the file's comment); then once the store
   * knows the session (a node reported it) or the hold is over, whichever comes first.
   */
  /** True while a loss holds lookups of unknown sessions (then `settle` them first). */
  get holding(): boolean {
    if (this.holdUntil === 0 && this.awaited.size === 0) return false;
    const now = Date.now();
    return now < this.holdUntil || this.awaiting(now);
  }

  /** True while a node of the view before a reload may still come back (see the file's comment). */
  private awaiting(now: number): boolean {
    if (this.awaited.size === 0) return false;
    if (now < this.awaitUntil) return true;
    // The latest lease end passed: every node still awaited is gone.
    this.awaited.clear();
    return false;
  }

  async settle(service: string, sid: string): Promise<void> {
    while (this.holding) {
      if ((await this.store.sessionNode(service, sid)) !== undefined) return;
      const now = Date.now();
      await sleep(Math.max(1, Math.min(SETTLE_POLL_MS, Math.max(this.holdUntil, this.awaitUntil) - now)));
    }
  }
}
