/**
 * gRPC call metrics (grpc_server_started_total, _handled_total, _msg_received/_sent_total,
 * _handling_seconds: the names go-grpc-prometheus made standard), registered in one islb
 * instance's own registry. Streams (and calls that came as frames) go through
 * nice-grpc-prometheus's server middleware; unary calls served from a single NATS message,
 * nearly every call, are counted by a UnaryObserver instead: a few increments a call, written
 * into the metrics when they are scraped, and the call keeps the transport's fast path (a
 * middleware costs every call its generators and label hashing: about a fifth of islb's CPU
 * on a list of 5 nodes).
 */
import { Counter, exponentialBuckets, type Registry } from "prom-client";
import { prometheusServerMiddleware, labelNames, labelNamesWithCode } from "nice-grpc-prometheus";
import type { ServerMiddleware } from "nice-grpc-common";
import { statusName } from "../status.js";
import type { UnaryObserver } from "../transport/server-core.js";

type Labels = Record<string, string>;

/** The labels nice-grpc-prometheus gives a unary call of `path` ("/pkg.Service/Method"). */
function unaryLabels(path: string): Labels {
  const [service = "", method = ""] = path.split("/").slice(1);
  return { grpc_type: "unary", grpc_service: service, grpc_method: method, grpc_path: path };
}

const BUCKETS = exponentialBuckets(0.0001, 4, 10);

/** One label set's histogram: counts per bucket (not cumulative; the last: above every bound), sum, count. */
class Series {
  readonly counts = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels) {}
  observe(seconds: number): void {
    let i = 0;
    while (i < BUCKETS.length && seconds > (BUCKETS[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * grpc_server_handling_seconds as prom-client's registry reads a metric (get), fed by both
 * the stream middleware (startTimer, as a prom-client Histogram) and the unary observer
 * (a Series held per path and code: no label hashing per call).
 */
class HandlingSeconds {
  readonly name = "grpc_server_handling_seconds";
  readonly help = "Time the server took to handle an RPC, by status.";
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();

  /** The series of a label set (made once). */
  seriesOf(labels: Labels): Series {
    const key = labelNamesWithCode.map((n) => labels[n] ?? "").join("\u0000");
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = new Series({ ...labels })));
    return s;
  }

  /** As prom-client's Histogram.startTimer, for nice-grpc-prometheus. */
  startTimer(labels: Labels): (end?: Labels) => number {
    const t0 = performance.now();
    return (end) => {
      const seconds = (performance.now() - t0) / 1000;
      this.seriesOf({ ...labels, ...end }).observe(seconds);
      return seconds;
    };
  }

  /** Zeroes every series (kept: the unary observer holds them). */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: unknown[] } {
    const values: unknown[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i <= BUCKETS.length; i++) {
        acc += s.counts[i] as number;
        const le = i < BUCKETS.length ? (BUCKETS[i] as number) : "+Inf";
        values.push({ labels: { ...s.labels, le }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** What the unary observer keeps per method path: counts since the last scrape, and per code. */
interface PathCounts {
  readonly labels: Labels;
  started: number;
  /** Handled calls not yet written into the counter, and the handling series, by status code. */
  readonly handled: number[];
  readonly seconds: (Series | undefined)[];
}

/** The call metrics: the middleware for streams (add it with `{ unary: false }`) and the observer for unary calls. */
export interface CallMetrics {
  readonly middleware: ServerMiddleware;
  readonly unary: UnaryObserver;
}

export function callMetrics(registry: Registry): CallMetrics {
  const registers = [registry];
  const paths = new Map<string, PathCounts>();
  const seconds = new HandlingSeconds();
  registry.registerMetric(seconds as never);
  const countsOf = (path: string): PathCounts => {
    let c = paths.get(path);
    if (c === undefined) paths.set(path, (c = { labels: unaryLabels(path), started: 0, handled: [], seconds: [] }));
    return c;
  };
  const started = new Counter({
    registers,
    name: "grpc_server_started_total",
    help: "RPCs started on the server.",
    labelNames,
    collect() {
      for (const c of paths.values()) {
        if (c.started > 0) this.inc(c.labels, c.started);
        c.started = 0;
      }
    },
  });
  const handled = new Counter({
    registers,
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, whatever their status.",
    labelNames: labelNamesWithCode,
    collect() {
      for (const c of paths.values()) {
        c.handled.forEach((n, code) => {
          if (n > 0) this.inc({ ...c.labels, grpc_code: statusName(code) }, n);
          c.handled[code] = 0;
        });
      }
    },
  });
  const middleware = prometheusServerMiddleware({
    serverStartedMetric: started,
    serverHandledMetric: handled,
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
    serverHandlingSecondsMetric: seconds as never,
  }) as ServerMiddleware;
  const unary: UnaryObserver = {
    started(path) {
      countsOf(path).started++;
    },
    finished(path, code, ms) {
      const c = countsOf(path);
      c.handled[code] = (c.handled[code] ?? 0) + 1;
      let s = c.seconds[code];
      if (s === undefined) s = c.seconds[code] = seconds.seriesOf({ ...c.labels, grpc_code: statusName(code) });
      s.observe(ms / 1000);
    },
  };
  return { middleware, unary };
}
