/** `islb serve`: the ISLB service on NATS, over the memory or Redis store. */
import type { NatsConnection } from "nats";
import type { Server } from "node:http";
import { ISLBDefinition } from "../../generated/islb/islb.js";
import { Balancer } from "../balancer/balancer.js";
import { createIslbService } from "../islb/service.js";
import type { Logger } from "../log.js";
import { MemoryStore } from "../registry/memory.js";
import type { RegistryStore } from "../registry/types.js";
import { createServer, type NatsServer } from "../transport/server.js";
import type { Config } from "./config.js";
import { connectNats, type LocalNats } from "./connect.js";
import { callMetrics, registryMetrics, serveMetrics } from "./metrics.js";
import { HealthDefinition } from "../../generated/grpc/health/v1/health.js";
import { HealthStatus, ServingStatus } from "../health/health.js";
import { serveMicro } from "../micro/discovery.js";
import { serveDiscovery } from "../discovery/server.js";
import { DescriptorIndex, islbDescriptorSet } from "../reflection/descriptors.js";
import { DescriptorJson } from "../reflection/json.js";
import { addReflection } from "../reflection/mount.js";
import { VERSION } from "../version.js";
import { Authorization } from "../islb/auth.js";
import { probeStore } from "../health/probe.js";

export interface Running {
  nc: NatsConnection;
  server: NatsServer;
  store: RegistryStore;
  balancer: Balancer;
  health: HealthStatus;
  close(): Promise<void>;
}

/** How often expired leases are swept: well inside the "gone within lease + 1 s" bound. */
const SWEEP_MS = 250;

/** How long the store's first answer is awaited at start before health says NOT_SERVING. */
const FIRST_PING_MS = 1000;

export async function openStore(cfg: Config, log?: Logger): Promise<RegistryStore> {
  if (cfg.redis === undefined) return new MemoryStore({ history: cfg.watchHistory });
  const { RedisStore } = await import("../registry/redis.js");
  return RedisStore.connect(cfg.redis, { history: cfg.watchHistory, logger: log });
}

export async function serve(cfg: Config, log: Logger, options: { startLocalNats?: boolean } = {}): Promise<Running> {
  const { nc, local } = await connectNats(cfg.nats, `islb ${cfg.nid}`, log, options.startLocalNats === true);
  let localNats: LocalNats | undefined = local;
  const store = await openStore(cfg, log);
  const balancer = new Balancer(store.view, { measure: cfg.measure, twoChoices: cfg.twoChoices });
  const metrics = registryMetrics(store.view);
  const auth = new Authorization({ secrets: cfg.secrets, adminToken: cfg.adminToken });
  const service = createIslbService(
    store,
    balancer,
    { leaseMs: cfg.leaseMs, heartbeatMs: cfg.heartbeatMs, sessionIdleMs: cfg.sessionIdleMs, auth },
    { onLookup: metrics.onLookup },
  );
  const descriptors = islbDescriptorSet();
  const server = createServer({ nid: cfg.nid, prefix: cfg.prefix, logger: log, json: new DescriptorJson(descriptors) }).use(callMetrics());
  server.add(ISLBDefinition, service);
  const health = new HealthStatus();
  server.add(HealthDefinition, health.service());
  addReflection(server, new DescriptorIndex(descriptors));
  const storeName = cfg.redis === undefined ? "memory" : "redis";
  const setHealth = (ok: boolean): void => {
    const status = ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (health.get("") !== undefined && health.get("") !== status) log[ok ? "info" : "warn"]({ store: storeName }, ok ? "store reachable: SERVING" : "store unreachable: NOT_SERVING");
    health.set("", status);
    health.set("islb.ISLB", status);
  };
  let firstTimer: NodeJS.Timeout | undefined;
  setHealth(await Promise.race([store.ping(), new Promise<boolean>((r) => (firstTimer = setTimeout(() => r(false), FIRST_PING_MS)))]));
  clearTimeout(firstTimer);
  const probe = probeStore(() => store.ping(), setHealth);
  await server.listen(nc);
  const discovery = cfg.ionDiscovery ? serveDiscovery(nc, store, balancer, auth, { sessionIdleMs: cfg.sessionIdleMs, logger: log }) : undefined;
  const stopMicro = serveMicro(nc, server, { name: "islb", id: cfg.nid, version: VERSION, description: "Inter-Server Load Balancer", metadata: { dc: cfg.dc } });
  const sweeper = setInterval(() => {
    store.sweep(Date.now()).catch((e: unknown) => log.warn({ err: e }, "lease sweep failed"));
  }, SWEEP_MS);
  let http: Server | undefined;
  if (cfg.metricsPort > 0) http = await serveMetrics(cfg.metricsPort);
  log.info({ nats: nc.getServer(), store: cfg.redis === undefined ? "memory" : "redis", prefix: cfg.prefix, metrics: cfg.metricsPort || undefined }, "islb serving");
  return {
    nc,
    server,
    store,
    balancer,
    health,
    async close() {
      clearInterval(sweeper);
      probe.stop();
      stopMicro();
      discovery?.stop();
      http?.close();
      await server.close();
      balancer.close();
      await store.close();
      await nc.drain().catch(() => undefined);
      localNats?.stop();
      localNats = undefined;
    },
  };
}
