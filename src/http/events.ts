/**
 * The cluster page's live feed, as server-sent events: a snapshot of the nodes and the recent
 * changes, then batches of changes as the registry makes them. A page that reads slowly gets
 * the latest record of each node rather than every heartbeat: what a connection holds is
 * bounded by the number of nodes and `MAX_CHANGES`, whatever the cluster does.
 */
import type { ServerResponse } from "node:http";
import type { RegistryEvent } from "../registry/types.js";
import type { RegistryView } from "../registry/view.js";
import { nodeJson, type NodeJson } from "./node-json.js";

/** A change as the page lists it. */
export interface ChangeJson {
  at: number;
  revision: number;
  /** up, draining, down, expired, or a session change (placed, moved, released). */
  type: string;
  nid: string;
  service: string;
  region: string;
  /** Sessions: the session id (and, for moves, where from). */
  sid?: string;
  from?: string;
  detail?: string;
}

/** An islb instance as the page shows it. */
export interface InstanceJson {
  nid: string;
  dc?: string;
  version?: string;
  self?: boolean;
}

export interface FeedOptions {
  /** This instance: shown in the page's header. */
  self: Record<string, string | number | undefined>;
  /** The islb instances serving now (e.g. from NATS micro discovery). */
  instances?: () => Promise<InstanceJson[]>;
}

/** Changes kept for pages that connect (and held for one slow page) at most. */
const MAX_CHANGES = 200;
const TICK_MS = 10_000;

class FeedClient {
  private readonly nodes = new Map<string, NodeJson | null>();
  private changes: ChangeJson[] = [];
  private scheduled = false;
  private blocked = false;

  constructor(readonly res: ServerResponse) {
    res.on("drain", () => {
      this.blocked = false;
      this.schedule();
    });
  }

  node(nid: string, json: NodeJson | null): void {
    this.nodes.set(nid, json);
    this.schedule();
  }

  change(c: ChangeJson): void {
    this.changes.push(c);
    if (this.changes.length > MAX_CHANGES) this.changes = this.changes.slice(-MAX_CHANGES);
    this.schedule();
  }

  send(event: string, data: unknown): void {
    if (!this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) this.blocked = true;
  }

  private schedule(): void {
    if (this.scheduled || this.blocked) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.blocked || this.res.destroyed) return;
    if (this.nodes.size === 0 && this.changes.length === 0) return;
    const nodes: NodeJson[] = [];
    const removed: string[] = [];
    for (const [nid, json] of this.nodes) {
      if (json === null) removed.push(nid);
      else nodes.push(json);
    }
    this.send("batch", { now: Date.now(), nodes, removed, changes: this.changes });
    this.nodes.clear();
    this.changes = [];
  }
}

export class ClusterFeed {
  private readonly clients = new Set<FeedClient>();
  private recent: ChangeJson[] = [];
  private instances: InstanceJson[] = [];
  private readonly stop: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly view: RegistryView,
    private readonly options: FeedOptions,
  ) {
    this.stop.push(view.subscribe((e) => this.onChange(e)));
    this.stop.push(view.onResync(() => this.clients.forEach((c) => this.snapshot(c))));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    void this.refreshInstances();
  }

  /** Pages connected now. */
  get size(): number {
    return this.clients.size;
  }

  /** Serves one page's event stream until it goes away. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    const client = new FeedClient(res);
    this.clients.add(client);
    res.on("close", () => this.clients.delete(client));
    this.snapshot(client);
  }

  /** A change the registry's feed does not carry (a session placed or moved), for the page. */
  note(change: Omit<ChangeJson, "at" | "revision"> & { revision?: number }): void {
    this.record({ at: Date.now(), revision: change.revision ?? this.view.revision, ...change });
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.stop) s();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private snapshot(c: FeedClient): void {
    const nodes: NodeJson[] = [];
    for (const r of this.view.nodesOf("*")) nodes.push(nodeJson(r));
    c.send("snapshot", {
      now: Date.now(),
      revision: this.view.revision,
      self: this.options.self,
      instances: this.instances,
      nodes,
      changes: this.recent,
    });
  }

  private record(change: ChangeJson): void {
    this.recent.push(change);
    if (this.recent.length > MAX_CHANGES) this.recent = this.recent.slice(-MAX_CHANGES);
    for (const c of this.clients) c.change(change);
  }

  private onChange(e: RegistryEvent): void {
    const r = e.record;
    const gone = e.type === "down" || e.type === "expired";
    if (this.clients.size > 0) {
      const json = gone ? null : nodeJson(r);
      for (const c of this.clients) c.node(r.node.nid, json);
    }
    if (e.type !== "updated")
      this.record({
        at: Date.now(),
        revision: e.revision,
        type: e.type,
        nid: r.node.nid,
        service: r.node.service,
        region: r.region || r.node.dc,
      });
  }

  private tick(): void {
    if (this.clients.size === 0) return;
    for (const c of this.clients) c.res.write(": keep-alive\n\n");
    void this.refreshInstances();
  }

  private async refreshInstances(): Promise<void> {
    if (this.options.instances === undefined) return;
    try {
      const now = await this.options.instances();
      if (JSON.stringify(now) === JSON.stringify(this.instances)) return;
      this.instances = now;
      for (const c of this.clients) c.send("instances", now);
    } catch {
      /* the page keeps the last list it had */
    }
  }
}
