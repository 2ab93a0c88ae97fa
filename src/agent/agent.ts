/**
 * The node agent a node process embeds: registers with islb, heartbeats with fresh load
 * figures, keeps going across NATS reconnects and islb restarts (each heartbeat carries the
 * registration, so a registry that lost the node registers it again at once), drains with a
 * deadline (told when drained; cancellable), follows an operator's cordon or drain, and
 * deregisters on stop.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "nats";
import {
  ISLBDefinition,
  NodeMark_Kind,
  NodeState,
  type Load,
  type NodeMark,
  type Registration,
  type SessionConflict,
} from "../../generated/islb/islb.js";
import { SessionReporter, type SessionReport } from "./session-report.js";
import { silentLogger, type Logger } from "../log.js";
import { Status } from "../status.js";
import { DEFAULT_PREFIX, methodSubject } from "../subjects.js";
import { createClient } from "../transport/client.js";
import type { DeepPartial } from "../transport/definition.js";
import { AgentStartError, describeFailure, isTransient, statusOf } from "./start-error.js";

export { AgentStartError };

export interface AgentOptions {
  /** The node as it registers (ion's Node, state, region, limits). */
  registration: DeepPartial<Registration> & { node: { nid: string; service: string } };
  /** Fresh load figures for each heartbeat. */
  load?: () => DeepPartial<Load> | Promise<DeepPartial<Load>>;
  /**
   * The sessions this node hosts (e.g. its rooms' ids), read for each heartbeat and sent
   * compactly (what changed since the last acknowledged heartbeat; every id when the registry
   * asks), so that a registry that lost its placements (a wiped store, a restart) re-learns them
   * and a live room is never split.
   */
  sessions?: () => Iterable<string> | Promise<Iterable<string>>;
  /**
   * Called with sessions this node reported that the registry has placed on another node (it
   * hosts them: the placement recorded wins): the node should hand their participants over to it.
   */
  onSessionConflict?: (conflicts: SessionConflict[]) => void;
  /** Lease asked for (default: the registry's). */
  leaseMs?: number;
  /** The service's registration secret, if the registry wants one. */
  secret?: string;
  /** Ownership token (default: a random one, kept for the agent's life). */
  token?: string;
  /** Subject prefix of the islb service (default nrpc). */
  prefix?: string;
  /** Retry delay after a failed registration or heartbeat (default 250 ms). */
  retryMs?: number;
  logger?: Logger;
  /**
   * Called once per drain when the registry finds this node drained (it reported no session,
   * or the drain's deadline passed), whoever started the drain (`drain()` or an operator's
   * `islb drain`): the node may stop now.
   */
  onDrained?: (mark: NodeMark) => void;
  /** Called when the operator's mark on this node changes (cordoned, draining, drained, or lifted: undefined). */
  onMark?: (mark: NodeMark | undefined) => void;
}

/** How `drain()` drains. */
export interface DrainOptions {
  /** How long the drain may last, in ms from now: then the node is drained whatever it still hosts (default: until its sessions reach 0). */
  deadline?: number;
  /** Why (shown in Watch and islb nodes). */
  reason?: string;
}

/** How `start()` waits for islb. */
export interface AgentStartOptions {
  /** Aborts the start-up: `start()` rejects with an AgentStartError (CANCELLED) and the agent stops. */
  signal?: AbortSignal;
  /** How long to keep trying while no islb answers (default 10 000 ms). */
  timeoutMs?: number;
  /**
   * When no islb answered within `timeoutMs`: resolve anyway and keep trying in the background
   * (with backoff, up to 5 s apart), heartbeating once registered. Default false: reject and stop.
   */
  keepRetrying?: boolean;
}

/** The session fields of a heartbeat of an agent without a `sessions` callback. */
const NO_REPORT: SessionReport = { sessionsAdded: [], sessionsRemoved: [], sessionsFull: false, sessionsDigest: "" };

/** Default start-up timeout. */
const START_TIMEOUT_MS = 10_000;
/** Longest pause between background registration attempts. */
const MAX_BACKOFF_MS = 5_000;

export class NodeAgent {
  private readonly client;
  private readonly token: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private heartbeatMs = 2000;
  private stopped = true;
  private state: NodeState;
  private beating = false;
  /** Registrations done, counting re-registrations after a registry lost the node. */
  registrations = 0;
  /** Heartbeats the registry accepted. */
  heartbeats = 0;
  /** The operator's mark on this node as the last heartbeat reply told it. */
  private currentMark: NodeMark | undefined;
  /** The drain this agent asked for (sent again to a registry that lost it), with its absolute deadline (0: none). */
  private drainAsked: { deadlineAt: number; reason: string } | undefined;
  /** The drain (its mark's time) onDrained was called for. */
  private drainedNotified = 0;
  /** What the registry knows of this node's sessions. */
  private readonly reporter = new SessionReporter();

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: AgentOptions,
  ) {
    this.client = createClient(ISLBDefinition, nc, { prefix: options.prefix });
    this.token = options.token ?? randomBytes(18).toString("base64url");
    this.log = options.logger ?? silentLogger;
    this.state = options.registration.state ?? NodeState.NODE_STATE_SERVING;
  }

  get nid(): string {
    return this.options.registration.node.nid;
  }

  private registration(): DeepPartial<Registration> {
    return { ...this.options.registration, state: this.state };
  }

  /** True once the node is registered (see `start`). */
  get registered(): boolean {
    return this.registrations > 0;
  }

  private async register(deadlineMs: number): Promise<void> {
    const r = await this.client.register(
      {
        registration: this.registration(),
        token: this.token,
        leaseMs: this.options.leaseMs ?? 0,
        secret: this.options.secret ?? "",
      },
      { deadline: deadlineMs },
    );
    this.heartbeatMs = r.heartbeatMs;
    this.registrations++;
    this.schedule(this.heartbeatMs);
    void this.watchConnection();
  }

  /**
   * Registers, then heartbeats until `stop`. Resolves once registered. While no islb answers
   * (UNAVAILABLE, a timeout) it tries again every `retryMs`, for `timeoutMs` at most; then it
   * rejects with an AgentStartError naming the subject it tried, and the agent stops, unless
   * `keepRetrying` is set (then it resolves with `registered` still false and keeps trying in
   * the background). islb refusing the registration (a bad id, a wrong secret, another
   * node's id) rejects at once.
   */
  async start(options: AgentStartOptions = {}): Promise<void> {
    if (!this.stopped) throw new Error("the agent is already started");
    this.stopped = false;
    const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS;
    const until = Date.now() + timeoutMs;
    const subject = methodSubject(this.options.prefix ?? DEFAULT_PREFIX, "islb.ISLB", "Register");
    const fail = (message: string, code: Status, cause: unknown): never => {
      this.stopped = true;
      throw new AgentStartError(message, code, cause);
    };
    let last: unknown;
    do {
      if (this.stopped) fail(`node ${this.nid} was stopped during start-up`, Status.CANCELLED, last);
      if (options.signal?.aborted === true)
        fail(`start-up of node ${this.nid} aborted before islb answered`, Status.CANCELLED, options.signal.reason);
      try {
        await this.register(Math.max(100, Math.min(2000, until - Date.now())));
        return;
      } catch (e) {
        if (this.stopped) fail(`node ${this.nid} was stopped during start-up`, Status.CANCELLED, e);
        if (!isTransient(e))
          fail(`islb refused the registration of node ${this.nid}: ${describeFailure(e)}`, statusOf(e), e);
        last = e;
      }
      const wait = Math.min(this.options.retryMs ?? 250, until - Date.now());
      if (wait > 0) await sleep(wait, undefined, { signal: options.signal }).catch(() => undefined);
    } while (Date.now() < until || options.signal?.aborted === true);
    const message = `no islb answered on ${subject} within ${timeoutMs} ms (last: ${describeFailure(last)}); is islb serve running on this NATS, with this prefix?`;
    if (options.keepRetrying !== true) fail(message, statusOf(last), last);
    this.log.warn({ err: last, nid: this.nid }, `${message} Registering in the background.`);
    void this.registerInBackground();
  }

  private async registerInBackground(): Promise<void> {
    let backoff = this.options.retryMs ?? 250;
    while (!this.stopped) {
      await sleep(backoff);
      if (this.stopped) return;
      try {
        await this.register(2000);
        this.log.info({ nid: this.nid }, "registered with islb");
        return;
      } catch (e) {
        if (this.stopped) return;
        if (!isTransient(e)) {
          this.log.error({ err: e, nid: this.nid }, "islb refused the registration; no more attempts");
          this.stopped = true;
          return;
        }
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.stopped) return;
      if (s.type === "reconnect") {
        this.log.info({ nid: this.nid }, "NATS reconnected; heartbeating now");
        this.schedule(0);
      }
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), ms);
    this.timer.unref();
  }

  /** One heartbeat now (also used after a reconnect and by `drain`). */
  async beat(): Promise<void> {
    if (this.stopped || this.beating) return;
    this.beating = true;
    let next = this.heartbeatMs;
    try {
      const load = this.options.load === undefined ? undefined : await this.options.load();
      const report: SessionReport | undefined =
        this.options.sessions === undefined ? undefined : this.reporter.report(await this.options.sessions());
      const r = await this.client.heartbeat(
        {
          nid: this.nid,
          token: this.token,
          load,
          state: this.state,
          registration: this.registration(),
          leaseMs: this.options.leaseMs ?? 0,
          secret: this.options.secret ?? "",
          ...(report ?? NO_REPORT),
        },
        { deadline: Math.max(500, this.heartbeatMs) },
      );
      this.heartbeatMs = r.heartbeatMs;
      next = r.heartbeatMs;
      this.heartbeats++;
      if (report !== undefined) {
        this.reporter.acknowledged(report, r.wantSessions);
        // The registry wants the whole list (it lost this node's placements): at once, not a heartbeat later.
        if (r.wantSessions) next = 0;
        if (r.sessionConflicts.length > 0) {
          this.log.warn({ nid: this.nid, conflicts: r.sessionConflicts.length }, "sessions hosted by another node");
          this.options.onSessionConflict?.(r.sessionConflicts);
        }
      }
      if (r.reregistered) {
        this.registrations++;
        this.log.info({ nid: this.nid }, "the registry had lost this node; registered again");
      }
      // A registry that lost the node lost its drain too: sent again (not taken for a cancel).
      const lost = r.reregistered && r.mark === undefined && this.drainAsked !== undefined;
      if (lost)
        void this.sendDrain().catch((e: unknown) =>
          this.log.warn({ err: e, nid: this.nid }, "sending the drain again failed"),
        );
      else this.noteMark(r.mark);
    } catch (e) {
      this.log.warn({ err: e, nid: this.nid }, "heartbeat failed; retrying");
      next = this.options.retryMs ?? 250;
    } finally {
      this.beating = false;
    }
    this.schedule(next);
  }

  /** The operator's mark on this node (cordon, drain) as the registry last told it. */
  get mark(): NodeMark | undefined {
    return this.currentMark;
  }

  /** True while the node is draining (asked by `drain()` or by an operator) and not yet drained. */
  get draining(): boolean {
    return (
      (this.currentMark?.kind === NodeMark_Kind.KIND_DRAINING && Number(this.currentMark.drainedAtMs) === 0) ||
      this.state === NodeState.NODE_STATE_DRAINING
    );
  }

  private noteMark(m: NodeMark | undefined): void {
    const mark = m === undefined || m.kind === NodeMark_Kind.KIND_UNSPECIFIED ? undefined : m;
    const before = this.currentMark;
    this.currentMark = mark;
    const changed =
      (before === undefined) !== (mark === undefined) ||
      (before !== undefined &&
        mark !== undefined &&
        (before.kind !== mark.kind || before.atMs !== mark.atMs || before.drainedAtMs !== mark.drainedAtMs));
    if (changed) this.options.onMark?.(mark);
    // An operator cancelled the drain this agent asked for: it is over.
    if (mark === undefined && before?.kind === NodeMark_Kind.KIND_DRAINING && this.drainAsked !== undefined)
      this.drainAsked = undefined;
    if (
      mark?.kind === NodeMark_Kind.KIND_DRAINING &&
      Number(mark.drainedAtMs) > 0 &&
      this.drainedNotified !== Number(mark.atMs)
    ) {
      this.drainedNotified = Number(mark.atMs);
      this.log.info({ nid: this.nid, reason: mark.drainedReason }, "drained: the node may stop");
      this.options.onDrained?.(mark);
    }
  }

  private async sendDrain(): Promise<void> {
    const d = this.drainAsked;
    if (d === undefined) return;
    const left = d.deadlineAt === 0 ? 0 : Math.max(1, d.deadlineAt - Date.now());
    const r = await this.client.drain(
      { nid: this.nid, token: this.token, deadlineMs: left, reason: d.reason, by: this.nid },
      { deadline: 2000 },
    );
    this.noteMark(r.node?.mark);
  }

  /**
   * Stops taking new sessions: the registry places this node's sessions elsewhere on their
   * next lookup and, once the node reports no session (its load's `sessions`) or `deadline`
   * ms have passed, tells it (`onDrained`). Cancelled by `cancelDrain()`. A registry without
   * drains (an older islb) gets the node's state DRAINING instead.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    this.drainAsked = {
      deadlineAt: options.deadline !== undefined && options.deadline > 0 ? Date.now() + options.deadline : 0,
      reason: options.reason ?? "",
    };
    try {
      await this.sendDrain();
    } catch (e) {
      if (statusOf(e) !== Status.UNIMPLEMENTED) throw e;
      this.state = NodeState.NODE_STATE_DRAINING;
    }
    await this.beat();
  }

  /** Cancels a drain (this agent's or an operator's): the node takes new sessions again. */
  async cancelDrain(reason = ""): Promise<void> {
    this.drainAsked = undefined;
    this.state = NodeState.NODE_STATE_SERVING;
    try {
      const r = await this.client.uncordon(
        { nid: this.nid, token: this.token, reason, by: this.nid, adminToken: "" },
        { deadline: 2000 },
      );
      this.noteMark(r.node?.mark);
    } catch (e) {
      if (statusOf(e) !== Status.UNIMPLEMENTED) throw e;
    }
    await this.beat();
  }

  /** Stops heartbeating and deregisters. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    try {
      await this.client.deregister({ nid: this.nid, token: this.token }, { deadline: 2000 });
    } catch (e) {
      this.log.warn({ err: e, nid: this.nid }, "deregistration failed; the lease will end the node");
    }
  }
}
