/**
 * The composition root: `startIslb(config)` builds and starts a whole islb instance (store,
 * view, balancer, ISLB service, health, reflection, NATS micro discovery, ion's nats-discovery,
 * lease sweeps, metrics HTTP) and returns a handle whose `close()` stops it all in reverse
 * order. A start that fails stops whatever it had started before it throws. `islb serve` is a
 * thin caller; embedders and tests call it directly.
 */
import type { NatsConnection } from "nats";
import type { Server } from "node:http";
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
import type { Config, NatsConfig } from "./config.js";
import { callMetrics, registryMetrics, serveMetrics } from "./metrics.js";
import { Teardown } from "./teardown.js";

/** A running islb instance. */
export interface Islb {
  readonly config: Config;
  readonly nc: NatsConnection;
  readonly server: NatsServer;
  readonly store: RegistryStore;
  readonly balancer: Balancer;
  readonly health: HealthStatus;
  /** The metrics HTTP server, when `metricsPort` is set. */
  readonly http: Server | undefined;
  /** Stops everything, the last started first; resolves once all is stopped. */
  close(): Promise<void>;
}

/** A NATS connection for islb, and how to let go of it. */
export interface NatsHandle {
  nc: NatsConnection;
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
}

/** How often expired leases are swept: well inside the "gone within lease + 1 s" bound. */
const SWEEP_MS = 250;

/** How long the store's first answer is awaited at start before health says NOT_SERVING. */
const FIRST_PING_MS = 1000;

/** The configured store: memory, or Redis (connected, its nodes loaded). */
export async function openStore(cfg: Config, log: Logger = silentLogger): Promise<RegistryStore> {
  if (cfg.redis === undefined) return new MemoryStore({ history: cfg.watchHistory });
  const { RedisStore } = await import("../registry/redis.js");
  return RedisStore.connect(cfg.redis, { history: cfg.watchHistory, logger: log });
}

const defaultConnect = async (nats: NatsConfig, name: string, log: Logger): Promise<NatsHandle> => {
  const { nc, local } = await connectNats(nats, name, log, false);
  return { nc, release: local?.stop };
};

/** Builds and starts an islb instance; throws (having stopped what it started) when it cannot. */
export async function startIslb(config: Config, options: StartOptions = {}): Promise<Islb> {
  const log = options.logger ?? silentLogger;
  const down = new Teardown();
  try {
    let nc: NatsConnection;
    if (options.nc !== undefined) nc = options.nc;
    else {
      const h = await (options.connect ?? defaultConnect)(config.nats, `islb ${config.nid}`, log);
      nc = h.nc;
      down.push("nats", async () => {
        await nc.drain().catch(() => undefined);
        await h.release?.();
      });
    }
    const store = await openStore(config, log);
    down.push("store", () => store.close());
    const balancer = new Balancer(store.view, { measure: config.measure, twoChoices: config.twoChoices });
    down.push("balancer", () => balancer.close());
    const metrics = registryMetrics(store.view);
    const auth = new Authorization({ secrets: config.secrets, adminToken: config.adminToken });
    const service = createIslbService(
      store,
      balancer,
      { leaseMs: config.leaseMs, heartbeatMs: config.heartbeatMs, sessionIdleMs: config.sessionIdleMs, auth },
      { onLookup: metrics.onLookup },
    );
    const descriptors = islbDescriptorSet();
    const server = createServer({ nid: config.nid, prefix: config.prefix, logger: log, json: new DescriptorJson(descriptors) }).use(callMetrics());
    server.add(ISLBDefinition, service);
    const health = new HealthStatus();
    server.add(HealthDefinition, health.service());
    addReflection(server, new DescriptorIndex(descriptors));

    const storeName = config.redis === undefined ? "memory" : "redis";
    const setHealth = (ok: boolean): void => {
      const status = ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      const before = health.get("");
      if (before !== undefined && before !== status) log[ok ? "info" : "warn"]({ store: storeName }, ok ? "store reachable: SERVING" : "store unreachable: NOT_SERVING");
      health.set("", status);
      health.set("islb.ISLB", status);
    };
    let firstTimer: NodeJS.Timeout | undefined;
    setHealth(await Promise.race([store.ping(), new Promise<boolean>((r) => (firstTimer = setTimeout(() => r(false), FIRST_PING_MS)))]));
    clearTimeout(firstTimer);
    const probe = probeStore(() => store.ping(), setHealth);
    down.push("health probe", () => probe.stop());

    await server.listen(nc);
    down.push("server", () => server.close());
    if (config.ionDiscovery) {
      const discovery = serveDiscovery(nc, store, balancer, auth, { sessionIdleMs: config.sessionIdleMs, logger: log });
      down.push("nats-discovery", () => discovery.stop());
    }
    const stopMicro = serveMicro(nc, server, { name: "islb", id: config.nid, version: VERSION, description: "Inter-Server Load Balancer", metadata: { dc: config.dc } });
    down.push("micro", stopMicro);
    const sweeper = setInterval(() => {
      store.sweep(Date.now()).catch((e: unknown) => log.warn({ err: e }, "lease sweep failed"));
    }, SWEEP_MS);
    down.push("sweeper", () => clearInterval(sweeper));
    let http: Server | undefined;
    if (config.metricsPort > 0) {
      const h = await serveMetrics(config.metricsPort);
      http = h;
      down.push(
        "metrics http",
        () =>
          new Promise<void>((resolve) => {
            h.close(() => resolve());
            h.closeAllConnections();
          }),
      );
    }
    log.info({ nats: nc.getServer(), store: storeName, prefix: config.prefix, metrics: config.metricsPort || undefined }, "islb serving");
    let closing: Promise<void> | undefined;
    return {
      config,
      nc,
      server,
      store,
      balancer,
      health,
      http,
      close() {
        closing ??= down.run().then((failures) => {
          for (const f of failures) log.warn({ err: f.err, step: f.name }, "stopping: a step failed");
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
