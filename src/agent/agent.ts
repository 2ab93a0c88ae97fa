/**
 * The node agent a node process embeds: registers with islb, heartbeats with fresh load
 * figures, keeps going across NATS reconnects and islb restarts (each heartbeat carries the
 * registration, so a registry that lost the node registers it again at once), drains, and
 * deregisters on stop.
 */
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { ISLBDefinition, NodeState, type Load, type Registration } from "../../generated/islb/islb.js";
import { silentLogger, type Logger } from "../log.js";
import { createClient } from "../transport/client.js";
import type { DeepPartial } from "../transport/definition.js";

export interface AgentOptions {
  /** The node as it registers (ion's Node, state, region, limits). */
  registration: DeepPartial<Registration> & { node: { nid: string; service: string } };
  /** Fresh load figures for each heartbeat. */
  load?: () => DeepPartial<Load> | Promise<DeepPartial<Load>>;
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
}

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

  /** Registers, and keeps heartbeating until `stop`. Resolves once registered. */
  async start(): Promise<void> {
    this.stopped = false;
    for (;;) {
      try {
        const r = await this.client.register({ registration: this.registration(), token: this.token, leaseMs: this.options.leaseMs ?? 0, secret: this.options.secret ?? "" }, { deadline: 2000 });
        this.heartbeatMs = r.heartbeatMs;
        this.registrations++;
        break;
      } catch (e) {
        if (this.stopped) throw e;
        this.log.warn({ err: e, nid: this.nid }, "registration failed; retrying");
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 250));
      }
    }
    this.schedule(this.heartbeatMs);
    void this.watchConnection();
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
      const r = await this.client.heartbeat(
        { nid: this.nid, token: this.token, load, state: this.state, registration: this.registration(), leaseMs: this.options.leaseMs ?? 0, secret: this.options.secret ?? "" },
        { deadline: Math.max(500, this.heartbeatMs) },
      );
      this.heartbeatMs = r.heartbeatMs;
      next = r.heartbeatMs;
      this.heartbeats++;
      if (r.reregistered) {
        this.registrations++;
        this.log.info({ nid: this.nid }, "the registry had lost this node; registered again");
      }
    } catch (e) {
      this.log.warn({ err: e, nid: this.nid }, "heartbeat failed; retrying");
      next = this.options.retryMs ?? 250;
    } finally {
      this.beating = false;
    }
    this.schedule(next);
  }

  /** Stops taking new sessions (state DRAINING), told to the registry at once. */
  async drain(): Promise<void> {
    this.state = NodeState.NODE_STATE_DRAINING;
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
