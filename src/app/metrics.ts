/**
 * Prometheus metrics: calls by method and code with latency (nice-grpc-prometheus's server
 * middleware), nodes by service and state, and session placements. Served on /metrics.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { Counter, Gauge } from "prom-client";
import { prometheusServerMiddleware, registry } from "nice-grpc-prometheus";
import type { Lookup } from "../islb/service.js";
import type { RegistryView } from "../registry/view.js";
import { NodeState } from "../registry/types.js";

export { registry };

export function callMetrics() {
  return prometheusServerMiddleware();
}

/** Gauges of the registry's nodes, read from the view when scraped. */
export function registryMetrics(view: RegistryView): { onLookup(kind: Lookup, service: string): void } {
  const existing = registry.getSingleMetric("islb_nodes");
  if (existing !== undefined) registry.removeSingleMetric("islb_nodes");
  new Gauge({
    name: "islb_nodes",
    help: "Registered nodes, by service and state.",
    labelNames: ["service", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const service of view.serviceNames()) {
        let serving = 0;
        let draining = 0;
        for (const r of view.nodesOf(service)) {
          if (r.state === NodeState.NODE_STATE_DRAINING) draining++;
          else serving++;
        }
        this.set({ service, state: "serving" }, serving);
        this.set({ service, state: "draining" }, draining);
      }
    },
  });
  const lookups =
    (registry.getSingleMetric("islb_lookups_total") as Counter<"service" | "kind"> | undefined) ??
    new Counter({ name: "islb_lookups_total", help: "FindNode lookups, by service and kind (node, list, session-known, session-placed).", labelNames: ["service", "kind"], registers: [registry] });
  return { onLookup: (kind, service) => lookups.inc({ service: service || "*", kind }) };
}

/** Serves /metrics on `port` (loopback and beyond, as the operator configured). */
export function serveMetrics(port: number): Promise<Server> {
  const http = createHttpServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("not found; metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500).end(String(e)),
    );
  });
  return new Promise((resolve, reject) => {
    http.once("error", (e: Error) => reject(new Error(`cannot serve metrics on port ${port}: ${e.message}`, { cause: e })));
    http.listen(port, () => resolve(http));
  });
}
