/**
 * islb's one HTTP listener (Node's own http): `/healthz` (liveness), `/readyz` (readiness),
 * `/metrics` (Prometheus text), `/` (the live cluster page) and `/events` (its server-sent
 * event feed). Read-only: every route answers GET and HEAD, anything else 405.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger, type Logger } from "../log.js";
import type { ClusterFeed } from "./events.js";
import { formatHost, parseListen } from "./listen-address.js";
import { CLUSTER_PAGE } from "./page.js";
import { readiness, type LoopMonitor, type ReadinessSource } from "./probes.js";

/** What /metrics serves (prom-client's Registry fits). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface HttpOptions {
  /** `HOST:PORT` (default 127.0.0.1:9464). */
  listen?: string;
  live: LoopMonitor;
  ready: ReadinessSource;
  metrics: MetricsSource;
  /** The cluster page's feed; without one, `/` and `/events` answer 404. */
  feed?: ClusterFeed;
  logger?: Logger;
}

/** A listening HTTP server. */
export interface HttpHandle {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res
    .writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    .end(`${JSON.stringify(body)}\n`);
};

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "content-security-policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
};

function route(o: HttpOptions, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  const path = (req.url ?? "/").split("?")[0];
  switch (path) {
    case "/healthz": {
      const s = o.live.status();
      return json(res, s.ok ? 200 : 503, s.body);
    }
    case "/readyz": {
      const r = readiness(o.ready);
      return json(res, r.ok ? 200 : 503, r.body);
    }
    case "/metrics":
      o.metrics.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.metrics.contentType }).end(text),
        (e: unknown) => json(res, 500, { error: `metrics failed: ${(e as Error).message}` }),
      );
      return;
    case "/":
    case "/index.html":
      if (o.feed === undefined) break;
      res.writeHead(200, PAGE_HEADERS).end(req.method === "HEAD" ? undefined : CLUSTER_PAGE);
      return;
    case "/events":
      if (o.feed === undefined) break;
      o.feed.attach(res);
      return;
  }
  json(res, 404, { error: `no such page: ${path}`, pages: ["/", "/healthz", "/readyz", "/metrics", "/events"] });
}

/** Starts the listener; rejects (naming the address) when it cannot bind. */
export async function startHttp(o: HttpOptions): Promise<HttpHandle> {
  const addr = parseListen(o.listen ?? "127.0.0.1:9464");
  const log = o.logger ?? silentLogger;
  const server = createServer((req, res) => {
    try {
      route(o, req, res);
    } catch (e) {
      log.error({ err: e, url: req.url }, "http request failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.end();
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new Error(`cannot listen for HTTP on ${formatHost(addr)}: ${(e as Error).message}`)),
    );
    server.listen(addr.port, addr.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${formatHost({ host: bound.address, port: bound.port })}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
