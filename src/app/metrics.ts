/**
 * One islb instance's Prometheus metrics, in a registry of its own: prom-client's process and
 * Node metrics, NATS and store connection state, the store's round-trip time, FindNode lookups
 * and placements by service and outcome, registry changes (heartbeats, expiries...), Watch
 * streams open, nodes by service, region and state, and load: summed per service and region
 * always, per node for at most `maxNodeSeries` nodes (the first by id), so the number of
 * series stays bounded whatever the cluster's size.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Lookup } from "../islb/service.js";
import { figure } from "../balancer/score.js";
import { Tally } from "./tally.js";
import { stateName } from "../registry/marks.js";
import type { ChangeType } from "../registry/types.js";
import type { RegistryView } from "../registry/view.js";

/** Per-node load series kept at most (the rest are only in the per-service sums). */
export const DEFAULT_NODE_SERIES = 500;

export interface MetricsOptions {
  /** islb_info's labels. */
  info: { version: string; nid: string; dc: string; store: string };
  maxNodeSeries?: number;
}

/** What the composition root reports into the metrics. */
export interface IslbMetrics {
  readonly registry: Registry;
  onLookup(kind: Lookup, service: string): void;
  /** A lookup refused (no node can take the session). */
  onRefused(service: string): void;
  /** Sessions a node reported while another node hosts them (heartbeats' session reports). */
  onSessionConflict(service: string, count: number): void;
  /** A Watch stream opened; call the result when it ends. */
  watchOpened(): () => void;
  /** One store ping: how long it took, and whether it answered. */
  storePing(seconds: number, ok: boolean): void;
  setNatsConnected(connected: boolean): void;
  /** Stops listening to the registry. */
  close(): void;
}

const FIGURES = ["cpu", "sessions", "tracks", "bandwidth"] as const;

export function islbMetrics(view: RegistryView, o: MetricsOptions): IslbMetrics {
  const registry = new Registry();
  const registers = [registry];
  const maxNodeSeries = o.maxNodeSeries ?? DEFAULT_NODE_SERIES;
  collectDefaultMetrics({ register: registry });
  new Gauge({
    registers,
    name: "islb_info",
    help: "This islb instance: version, node id, dc and store.",
    labelNames: ["version", "nid", "dc", "store"],
  }).set(o.info, 1);
  const natsUp = new Gauge({ registers, name: "islb_nats_connected", help: "1 while the NATS connection is up." });
  const storeUp = new Gauge({ registers, name: "islb_store_up", help: "1 while the store answers its health pings." });
  const storeRtt = new Histogram({
    registers,
    name: "islb_store_ping_seconds",
    help: "Round-trip time of the store's health pings.",
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  });
  // Counted on every call or change: plain numbers, written into the counters when scraped.
  const lookups = new Tally(["service", "kind"]);
  const placements = new Tally(["service", "outcome"]);
  const changes = new Tally(["type", "_"]);
  new Counter({
    registers,
    name: "islb_lookups_total",
    help: "FindNode lookups by service and kind (node, list, session).",
    labelNames: ["service", "kind"],
    collect() {
      lookups.flush((labels, n) => this.inc(labels, n));
    },
  });
  new Counter({
    registers,
    name: "islb_placements_total",
    help: "Session lookups by service and outcome: new (placed now), known (already placed), refused (no node could take it).",
    labelNames: ["service", "outcome"],
    collect() {
      placements.flush((labels, n) => this.inc(labels, n));
    },
  });
  new Counter({
    registers,
    name: "islb_registry_changes_total",
    help: "Registry changes seen by this instance, by type (updated: heartbeats and other updates; expired: leases that ended; cordoned, uncordoned, draining, drained: operators' marks).",
    labelNames: ["type"],
    collect() {
      changes.flush((labels, n) => this.inc({ type: labels.type as string }, n));
    },
  });
  const watches = new Gauge({ registers, name: "islb_watch_streams", help: "Watch streams open on this instance." });
  new Gauge({
    registers,
    name: "islb_nodes",
    help: "Registered nodes, by service, region and state (serving, draining, drained, cordoned: an operator's mark counts over the node's own state).",
    labelNames: ["service", "region", "state"],
    collect() {
      this.reset();
      const counts = new Map<string, { service: string; region: string; state: string; n: number }>();
      for (const r of view.nodesOf("*")) {
        const labels = { service: r.node.service, region: r.region || r.node.dc, state: stateName(r) };
        const key = `${labels.service}\u0000${labels.region}\u0000${labels.state}`;
        const c = counts.get(key);
        if (c === undefined) counts.set(key, { ...labels, n: 1 });
        else c.n++;
      }
      for (const { n, ...labels } of counts.values()) this.set(labels, n);
    },
  });
  new Gauge({
    registers,
    name: "islb_service_load",
    help: "Load reported by the nodes of a service and region, summed, by figure (cpu, sessions, tracks, bandwidth in bit/s).",
    labelNames: ["service", "region", "figure"],
    collect() {
      this.reset();
      for (const r of view.nodesOf("*"))
        for (const f of FIGURES)
          this.inc({ service: r.node.service, region: r.region || r.node.dc, figure: f }, figure(f, r.load));
    },
  });
  new Gauge({
    registers,
    name: "islb_node_load",
    help: `Load reported by each node, by figure, for at most ${maxNodeSeries} nodes (the first by node id).`,
    labelNames: ["service", "nid", "figure"],
    collect() {
      this.reset();
      const nodes = [...view.nodesOf("*")].sort((a, b) => (a.node.nid < b.node.nid ? -1 : 1)).slice(0, maxNodeSeries);
      for (const r of nodes)
        for (const f of FIGURES) this.set({ service: r.node.service, nid: r.node.nid, figure: f }, figure(f, r.load));
    },
  });
  const sessionChanges = new Counter({
    registers,
    name: "islb_session_changes_total",
    help: 'Session changes seen by this instance (from every instance sharing the store), by service and type (moved: re-placed off a host that could not keep it; released; expanded; placed and expired with session events "all").',
    labelNames: ["service", "type"],
  });
  const conflicts = new Counter({
    registers,
    name: "islb_session_conflicts_total",
    help: "Sessions a node reported hosting (its heartbeats) while another node that keeps them hosts them, by service: the placement recorded wins and the reporter is told to hand them over.",
    labelNames: ["service"],
  });
  const stopNodes = view.subscribe((e) => changes.add(e.type satisfies ChangeType, ""));
  const stopSessions = view.sessions.subscribe((e) => sessionChanges.inc({ service: e.service, type: e.type }));
  const stop = (): void => {
    stopNodes();
    stopSessions();
  };
  return {
    registry,
    onLookup(kind, service) {
      const s = service || "*";
      if (kind === "session-placed" || kind === "session-known") {
        lookups.add(s, "session");
        placements.add(s, kind === "session-placed" ? "new" : "known");
      } else lookups.add(s, kind);
    },
    onRefused(service) {
      lookups.add(service, "session");
      placements.add(service, "refused");
    },
    onSessionConflict(service, count) {
      conflicts.inc({ service }, count);
    },
    watchOpened() {
      watches.inc();
      let done = false;
      return () => {
        if (!done) watches.dec();
        done = true;
      };
    },
    storePing(seconds, ok) {
      storeUp.set(ok ? 1 : 0);
      if (ok) storeRtt.observe(seconds);
    },
    setNatsConnected(connected) {
      natsUp.set(connected ? 1 : 0);
    },
    close() {
      stop();
    },
  };
}
