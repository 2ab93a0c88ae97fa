/**
 * gRPC call metrics (grpc_server_started_total, _handled_total, _msg_received/_sent_total,
 * _handling_seconds: the names go-grpc-prometheus made standard), by nice-grpc-prometheus's
 * server middleware, registered in one islb instance's own registry.
 */
import { Counter, Histogram, exponentialBuckets, type Registry } from "prom-client";
import { prometheusServerMiddleware, labelNames, labelNamesWithCode } from "nice-grpc-prometheus";
import type { ServerMiddleware } from "nice-grpc-common";

/** The call metrics middleware, its metrics in `registry`. */
export function callMetrics(registry: Registry): ServerMiddleware {
  const registers = [registry];
  return prometheusServerMiddleware({
    serverStartedMetric: new Counter({
      registers,
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames,
    }),
    serverHandledMetric: new Counter({
      registers,
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, whatever their status.",
      labelNames: labelNamesWithCode,
    }),
    serverStreamMsgReceivedMetric: new Counter({
      registers,
      name: "grpc_server_msg_received_total",
      help: "Stream messages received by the server.",
      labelNames,
    }),
    serverStreamMsgSentMetric: new Counter({
      registers,
      name: "grpc_server_msg_sent_total",
      help: "Stream messages sent by the server.",
      labelNames,
    }),
    serverHandlingSecondsMetric: new Histogram({
      registers,
      name: "grpc_server_handling_seconds",
      help: "Time the server took to handle an RPC, by status.",
      labelNames: labelNamesWithCode,
      buckets: exponentialBuckets(0.0001, 4, 10),
    }),
  }) as ServerMiddleware;
}
