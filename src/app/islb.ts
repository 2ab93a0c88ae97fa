/**
 * The composition root: `startIslb(config)` builds and starts a whole islb instance (store,
 * view, balancer, ISLB service, health, reflection, NATS micro discovery, ion's nats-discovery,
 * lease sweeps, metrics HTTP) and returns a handle whose `close()` stops it all in reverse
 * order. A start that fails stops whatever it had started before it throws. `islb serve` is a
 * thin caller; embedders and tests call it directly.
 */
import type { NatsConnection } from "nats";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { HealthDefinition } from "../../generated/grpc/health/v1/health.js";
import { Balancer } from "../balancer/balancer.js";
import { connectNats } from "../cli/connect.js";
import { serveDiscovery } from "../discovery/server.js";
import { HealthStatus, ServingStatus } from "../health/health.js";
import { probeStore } from "../health/probe.js";
import { Authorization } from "../islb/auth.js";
import { createIslbService } from "../islb/service.js";
import { silentLogger, type Logger } from "../log.js";
import { serveMicro } from "../micro/discovery.js";
import { DescriptorIndex, islbDescriptorSet } from "../reflection/descriptors.js";
import { DescriptorJson } from "../reflection/json.js";
import { addReflection } from "../reflection/mount.js";
import { MemoryStore } from "../registry/memory.js";
import type { RegistryStore } from "../registry/types.js";
import { createServer, type NatsServer } from "../transport/server.js";
import { VERSION } from "../version.js";
import { ClusterFeed } from "../http/events.js";
import { LoopMonitor } from "../http/probes.js";
import { startHttp, type HttpHandle } from "../http/server.js";
import { tracingServerMiddleware } from "../tracing/middleware.js";
import type { GatewayOptions } from "../gateway/index.js";
import { callMetrics } from "./call-metrics.js";
import { storeKind, type Config, type NatsConfig } from "./config.js";
import { islbInstances } from "./instances.js";
import { islbMetrics, type IslbMetrics } from "./metrics.js";
import { Readiness } from "./readiness.js";
import { storeName } from "./store-name.js";
import { Teardown } from "./teardown.js";

/** A running islb instance. */
export interface Islb {
  readonly config: Config;
  readonly nc: NatsConnection;
  readonly server: NatsServer;
  readonly store: RegistryStore;
  readonly balancer: Balancer;
  readonly health: HealthStatus;
  /** The HTTP listener (health, metrics, the cluster page), unless `http` is "". */
  readonly http: HttpHandle | undefined;
  readonly metrics: IslbMetrics;
  /** The one answer of /readyz and grpc.health.v1. */
  readonly readiness: Readiness;
  /** Stops everything, the last started first; resolves once all is stopped. */
  close(): Promise<void>;
}

/** A NATS connection for islb, and how to let go of it. */
export interface NatsHandle {
  nc: NatsConnection;
  /** Set when the connection is to a nats-server started for it (`islb serve --start-nats`). */
  localServer?: boolean;
  /** Ends what came with the connection (a local nats-server); called after the drain. */
  release?(): void | Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /**
   * Serve on this connection instead of connecting: the caller keeps it (it is not drained on
   * close). Otherwise `connect` (default: connect to `config.nats`) is used, and drained on close.
   */
  nc?: NatsConnection;
  connect?: (nats: NatsConfig, name: string, log: Logger) => Promise<NatsHandle>;
  /**
   * Trace calls (server spans, the caller's W3C trace context as parent) through
   * OpenTelemetry's global tracer provider: set it when one is registered (islb serve does when
   * OTEL_EXPORTER_OTLP_ENDPOINT is set).
   */
  tracing?: boolean;
  /** Also run the gateway (gRPC, gRPC-Web and Connect over HTTP into the bus) on islb's connection. */
  gateway?: { host: string; port: number; options: Omit<GatewayOptions, "logger"> };
}

/** How often expired leases are swept: well inside the "gone within lease + 1 s" bound. */
const SWEEP_MS = 250;

/** How long the store's first answer is awaited at start before health says NOT_SERVING. */
const FIRST_PING_MS = 1000;

/**
 * The configured store: memory, Redis, or NATS KV on `nc` (connected, its nodes loaded).
 * The NATS KV store needs `nc`: islb's own connection.
 */
export async function openStore(cfg: Config, log: Logger = silentLogger, nc?: NatsConnection): Promise<RegistryStore> {
  const kind = storeKind(cfg);
  if (kind === "nats") {
    if (nc === undefined) throw new Error("the NATS KV store needs islb's NATS connection");
    const { NatsKvStore } = await import("../registry/nats-kv.js");
    const store = cfg.store ?? { bucket: "islb", replicas: 1 };
    return NatsKvStore.connect(
      nc,
      { bucket: store.bucket, replicas: store.replicas },
      {
        history: cfg.watchHistory,
        sessionEvents: cfg.sessionEvents,
        onError: (e) =>
          log.warn({ err: e instanceof Error ? e.message : String(e) }, "NATS KV watch failed (started again)"),
      },
    );
  }
  if (kind === "memory" || cfg.redis === undefined)
    return new MemoryStore({
      history: cfg.watchHistory,
      sessionEvents: cfg.sessionEvents,
      maxSessions: cfg.maxSessions,
      maxNodes: cfg.maxNodes,
    });
  const { RedisStore } = await import("../registry/redis.js");
  return RedisStore.connect(cfg.redis, { history: cfg.watchHistory, logger: log, sessionEvents: cfg.sessionEvents });
}

const defaultConnect = async (nats: NatsConfig, name: string, log: Logger): Promise<NatsHandle> => {
  const { nc, local } = await connectNats(nats, name, log, false);
  return { nc, release: local?.stop, localServer: local !== undefined };
};

/** Counts a stream as open in `opened`'s gauge while it is read. */
async function* counted<T>(stream: AsyncIterable<T>, opened: () => () => void): AsyncGenerator<T> {
  const done = opened();
  try {
    yield* stream;
  } finally {
    done();
  }
}

/** Builds and starts an islb instance; throws (having stopped what it started) when it cannot. */
export async function startIslb(config: Config, options: StartOptions = {}): Promise<Islb> {
  const log = options.logger ?? silentLogger;
  const down = new Teardown();
  try {
    let nc: NatsConnection;
    let localServer = false;
    if (options.nc !== undefined) nc = options.nc;
    else {
      const h = await (options.connect ?? defaultConnect)(config.nats, `islb ${config.nid}`, log);
      nc = h.nc;
      localServer = h.localServer === true;
      down.push("nats", async () => {
        await nc.drain().catch(() => undefined);
        await h.release?.();
      });
    }
    const storeDesc = storeName(config);
    const store = await openStore(config, log, nc);
    down.push("store", () => store.close());
    const balancer = new Balancer(store.view, { measure: config.measure, twoChoices: config.twoChoices });
    down.push("balancer", () => balancer.close());
    const metrics = islbMetrics(store.view, {
      info: { version: VERSION, nid: config.nid, dc: config.dc, store: storeKind(config) },
    });
    down.push("metrics", () => metrics.close());
    const auth = new Authorization({ secrets: config.secrets, adminToken: config.adminToken });
    const stopping = new AbortController();
    const service = createIslbService(
      store,
      balancer,
      {
        leaseMs: config.leaseMs,
        heartbeatMs: config.heartbeatMs,
        sessionIdleMs: config.sessionIdleMs,
        sessionEvents: config.sessionEvents,
        auth,
        stopping: stopping.signal,
      },
      { onLookup: metrics.onLookup, onSessionConflict: metrics.onSessionConflict },
    );
    const watch = service.watch.bind(service);
    service.watch = (req, ctx) => counted(watch(req, ctx), metrics.watchOpened);
    const descriptors = islbDescriptorSet();
    const server = createServer({
      nid: config.nid,
      prefix: config.prefix,
      logger: log,
      json: new DescriptorJson(descriptors),
      drainMs: config.drainMs,
    });
    if (options.tracing === true) server.use(tracingServerMiddleware());
    const calls = callMetrics(metrics.registry);
    server.use(calls.middleware, { unary: false });
    server.observeUnary(calls.unary);
    server.add(ISLBDefinition, service);
    const health = new HealthStatus();
    server.add(HealthDefinition, health.service());
    addReflection(server, new DescriptorIndex(descriptors));

    const setHealth = (ok: boolean): void => {
      const status = ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      const before = health.get("");
      if (before !== undefined && before !== status)
        log[ok ? "info" : "warn"]({ checks: readiness.checks() }, ok ? "ready: SERVING" : "not ready: NOT_SERVING");
      health.set("", status);
      health.set("islb.ISLB", status);
    };
    const readiness = new Readiness(storeDesc, setHealth);
    readiness.setViewLoaded();
    const timedPing = async (): Promise<boolean> => {
      const t0 = performance.now();
      const ok = await store.ping();
      metrics.storePing((performance.now() - t0) / 1000, ok);
      return ok;
    };
    let firstTimer: NodeJS.Timeout | undefined;
    readiness.setStore(
      await Promise.race([
        timedPing(),
        new Promise<boolean>((r) => (firstTimer = setTimeout(() => r(false), FIRST_PING_MS))),
      ]),
    );
    clearTimeout(firstTimer);
    setHealth(readiness.ready);
    const probe = probeStore(timedPing, (ok) => readiness.setStore(ok));
    down.push("health probe", () => probe.stop());
    metrics.setNatsConnected(!nc.isClosed());
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") {
          readiness.setNats(s.type === "reconnect");
          metrics.setNatsConnected(s.type === "reconnect");
        }
      }
    })();

    await server.listen(nc);
    down.push("server", () => server.close());
    // Before the server's drain: Watch streams end at once (UNAVAILABLE), so they do not hold it.
    down.push("watches", () => stopping.abort());
    if (config.ionDiscovery) {
      const discovery = serveDiscovery(nc, store, balancer, auth, { sessionIdleMs: config.sessionIdleMs, logger: log });
      down.push("nats-discovery", () => discovery.stop());
    }
    const stopMicro = serveMicro(nc, server, {
      name: "islb",
      id: config.nid,
      version: VERSION,
      description: "Inter-Server Load Balancer",
      metadata: { dc: config.dc },
    });
    down.push("micro", stopMicro);
    const sweeper = setInterval(() => {
      store.sweep(Date.now()).catch((e: unknown) => log.warn({ err: e }, "lease sweep failed"));
    }, SWEEP_MS);
    down.push("sweeper", () => clearInterval(sweeper));
    let http: HttpHandle | undefined;
    if (config.http !== "") {
      const live = new LoopMonitor();
      down.push("liveness", () => live.close());
      const feed = new ClusterFeed(store.view, {
        self: { nid: config.nid, dc: config.dc, version: VERSION, store: storeDesc },
        instances: () => islbInstances(nc, config.nid),
      });
      down.push("cluster feed", () => feed.close());
      const stopMoves = store.view.sessions.subscribe((e) =>
        feed.note({
          type: e.type,
          nid: e.nid || e.from,
          service: e.service,
          region: "",
          sid: e.sid,
          from: e.from,
          detail: e.reason,
          revision: e.revision,
        }),
      );
      down.push("cluster feed moves", stopMoves);
      const h = await startHttp({
        listen: config.http,
        live,
        ready: () => readiness.checks(),
        metrics: metrics.registry,
        feed,
        logger: log,
      });
      http = h;
      down.push("http", () => h.close());
    }
    let gatewayAt: string | undefined;
    if (options.gateway !== undefined) {
      const { createGateway } = await import("../gateway/index.js");
      const g = createGateway(nc, { ...options.gateway.options, logger: log });
      const a = await g.listen(options.gateway.port, options.gateway.host);
      gatewayAt = `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
      down.push("gateway", () => g.close());
    }
    log.info(
      {
        version: VERSION,
        gateway: gatewayAt,
        dc: config.dc || undefined,
        nats: nc.getServer(),
        natsStartedHere: localServer || undefined,
        store: storeDesc,
        http: http?.url,
        prefix: config.prefix,
        drainMs: config.drainMs,
      },
      `islb serving (version ${VERSION}) as ${config.nid}${config.dc ? ` in ${config.dc}` : ""}: NATS ${nc.getServer()}${localServer ? " (started here)" : ""}, ${storeDesc}${http ? `, ${http.url}` : ""}${gatewayAt ? `, gateway ${gatewayAt}` : ""}`,
    );
    let closing: Promise<void> | undefined;
    return {
      config,
      nc,
      server,
      store,
      balancer,
      health,
      http,
      metrics,
      readiness,
      close() {
        const t0 = Date.now();
        closing ??= down.run().then((failures) => {
          for (const f of failures) log.warn({ err: f.err, step: f.name }, "stopping: a step failed");
          const ms = Date.now() - t0;
          log.info({ stoppedInMs: ms }, `islb ${config.nid} stopped; the drain and shutdown took ${ms} ms`);
        });
        return closing;
      },
    };
  } catch (e) {
    const failures = await down.run();
    for (const f of failures) log.warn({ err: f.err, step: f.name }, "a failed start: stopping a step failed");
    throw e;
  }
}
