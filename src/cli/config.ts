/**
 * islb's configuration: defaults, then a TOML file (ion's islb.toml is accepted as it is:
 * [global] dc, [log] level, [nats] url, [redis] addrs/password/db), then the environment
 * (NATS_URL, REDIS_URL, ISLB_NID, ISLB_DC, LOG_LEVEL, ISLB_ADMIN_TOKEN), then command-line flags.
 */
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import type { Measure } from "../balancer/score.js";
import { MEASURES } from "../balancer/score.js";
import {
  defaults,
  storeKind,
  type Config,
  type LogFormat,
  type NatsConfig,
  type RedisConfig,
  type SessionEventsMode,
  type StoreConfig,
  type StoreKind,
} from "../app/config.js";
import { LOG_LEVELS } from "../app/logger.js";
import { unknownKeys } from "./known-keys.js";

export { defaults, type Config, type NatsConfig, type RedisConfig };

export class ConfigError extends Error {}

type Table = Record<string, unknown>;

const table = (t: Table, k: string): Table => {
  const v = t[k];
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(`[${k}] must be a table`);
  return v as Table;
};

function str(t: Table, k: string, where: string): string | undefined {
  const v = t[k];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ConfigError(`${where}.${k} must be a string`);
  return v;
}

function num(t: Table, k: string, where: string): number | undefined {
  const v = t[k];
  if (v === undefined) return undefined;
  if (typeof v !== "number" && typeof v !== "bigint") throw new ConfigError(`${where}.${k} must be a number`);
  return Number(v);
}

function bool(t: Table, k: string, where: string): boolean | undefined {
  const v = t[k];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new ConfigError(`${where}.${k} must be true or false`);
  return v;
}

function positive(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${name} must be a whole number ≥ 1`);
  return v;
}

function measureOf(v: string | undefined): Measure | undefined {
  if (v === undefined) return undefined;
  if (!(MEASURES as readonly string[]).includes(v))
    throw new ConfigError(`measure must be one of ${MEASURES.join(", ")}, not ${JSON.stringify(v)}`);
  return v as Measure;
}

function sessionEventsOf(v: string | undefined, where: string): SessionEventsMode | undefined {
  if (v === undefined) return undefined;
  if (v !== "moves" && v !== "all")
    throw new ConfigError(`${where} must be "moves" or "all", not ${JSON.stringify(v)}`);
  return v;
}

/** A log level pino knows, or a ConfigError naming `where` it came from and the levels there are. */
export function levelOf(v: string | undefined, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw new ConfigError(`${where} must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(v)}`);
  return v;
}

function kindOf(v: string | undefined, where: string): StoreKind | undefined {
  if (v === undefined) return undefined;
  if (v !== "memory" && v !== "redis" && v !== "nats")
    throw new ConfigError(`${where} must be memory, redis or nats, not ${JSON.stringify(v)}`);
  return v;
}

function bucketOf(v: string | undefined, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(v))
    throw new ConfigError(
      `${where} must be 1 to 64 letters, digits, _ or - (a JetStream KV bucket name), not ${JSON.stringify(v)}`,
    );
  return v;
}

function replicasOf(v: number | undefined, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (v !== 1 && v !== 3 && v !== 5) throw new ConfigError(`${where} must be 1, 3 or 5, not ${v}`);
  return v;
}

/** A store configuration with `over` applied (bucket and replicas checked). */
function withStore(
  cur: StoreConfig | undefined,
  over: { kind?: string; bucket?: string; replicas?: number },
  names: [string, string, string],
): StoreConfig {
  const base = cur ?? { bucket: "islb", replicas: 1 };
  return {
    kind: kindOf(over.kind, names[0]) ?? base.kind,
    bucket: bucketOf(over.bucket, names[1]) ?? base.bucket,
    replicas: replicasOf(over.replicas, names[2]) ?? base.replicas,
  };
}

/** Fails when the chosen store is not configured. */
function checkStore(cfg: Config): void {
  if (storeKind(cfg) === "redis" && cfg.redis === undefined)
    throw new ConfigError("the redis store needs [redis] addrs or sentinels, REDIS_URL or --redis");
}

function formatOf(v: string | undefined, where: string): LogFormat | undefined {
  if (v === undefined) return undefined;
  if (v !== "auto" && v !== "json" && v !== "pretty")
    throw new ConfigError(`${where} must be json, pretty or auto, not ${JSON.stringify(v)}`);
  return v;
}

/** `--metrics-port N` and `[metrics] port`, kept from before `--http`: the listener on loopback port N (0: none). */
const metricsPortListen = (port: number): string => (port === 0 ? "" : `127.0.0.1:${port}`);

/**
 * Applies a TOML document (ion's islb.toml, or ours with [islb], [http] and [metrics] too);
 * keys it does not know are named in `warnings`.
 */
export function applyToml(cfg: Config, text: string, file = "config", warnings: string[] = []): Config {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  for (const k of unknownKeys(doc)) warnings.push(`${file}: unknown key ${k} (ignored)`);
  const g = table(doc, "global");
  const log = table(doc, "log");
  const nats = table(doc, "nats");
  const redis = table(doc, "redis");
  const islb = table(doc, "islb");
  const metrics = table(doc, "metrics");
  const http = table(doc, "http");
  const store = table(doc, "store");
  const out: Config = { ...cfg, nats: { ...cfg.nats } };
  out.store = withStore(
    cfg.store,
    {
      kind: str(store, "kind", "store"),
      bucket: str(store, "bucket", "store"),
      replicas: num(store, "replicas", "store"),
    },
    ["store.kind", "store.bucket", "store.replicas"],
  );
  out.dc = str(g, "dc", "global") ?? out.dc;
  out.logLevel = levelOf(str(log, "level", "log"), "log.level") ?? out.logLevel;
  out.logFormat = formatOf(str(log, "format", "log"), "log.format") ?? out.logFormat;
  out.nats.url = str(nats, "url", "nats") ?? out.nats.url;
  out.nats.user = str(nats, "user", "nats") ?? out.nats.user;
  out.nats.pass = str(nats, "password", "nats") ?? out.nats.pass;
  out.nats.token = str(nats, "token", "nats") ?? out.nats.token;
  out.nats.creds = str(nats, "creds", "nats") ?? out.nats.creds;
  out.nats.inboxPrefix = str(nats, "inbox_prefix", "nats") ?? out.nats.inboxPrefix;
  const ca = str(nats, "tls_ca", "nats");
  const cert = str(nats, "tls_cert", "nats");
  const key = str(nats, "tls_key", "nats");
  if (ca !== undefined || cert !== undefined || key !== undefined) out.nats.tls = { ca, cert, key };
  if (Object.keys(redis).length > 0) {
    const addrs = redis.addrs;
    if (addrs !== undefined && (!Array.isArray(addrs) || addrs.some((a) => typeof a !== "string")))
      throw new ConfigError("redis.addrs must be a list of host:port strings");
    out.redis = {
      addrs: ((addrs as string[] | undefined) ?? []).filter((a) => a !== ""),
      password: str(redis, "password", "redis") || undefined,
      db: num(redis, "db", "redis") ?? 0,
      prefix: str(redis, "prefix", "redis") ?? "islb:",
      masterName: str(redis, "master_name", "redis"),
    };
    const shards = num(redis, "shards", "redis");
    if (shards !== undefined) {
      if (!(Number.isInteger(shards) && shards >= 1 && shards <= 16))
        throw new ConfigError("redis.shards must be a whole number from 1 to 16");
      out.redis.shards = shards;
    }
    const sentinels = redis.sentinels;
    if (sentinels !== undefined) {
      if (!Array.isArray(sentinels) || sentinels.some((a) => typeof a !== "string"))
        throw new ConfigError("redis.sentinels must be a list of host:port strings");
      out.redis.sentinels = sentinels as string[];
    }
    if (out.redis.addrs.length === 0 && (out.redis.sentinels?.length ?? 0) === 0) out.redis = undefined;
  }
  out.nid = str(islb, "nid", "islb") ?? out.nid;
  out.prefix = str(islb, "prefix", "islb") ?? out.prefix;
  out.leaseMs = num(islb, "lease_ms", "islb") ?? out.leaseMs;
  out.heartbeatMs = num(islb, "heartbeat_ms", "islb") ?? out.heartbeatMs;
  out.sessionIdleMs = num(islb, "session_idle_ms", "islb") ?? out.sessionIdleMs;
  out.sessionEvents = sessionEventsOf(str(islb, "session_events", "islb"), "islb.session_events") ?? out.sessionEvents;
  out.measure = measureOf(str(islb, "measure", "islb")) ?? out.measure;
  out.twoChoices = bool(islb, "two_choices", "islb") ?? out.twoChoices;
  out.ionDiscovery = bool(islb, "ion_discovery", "islb") ?? out.ionDiscovery;
  out.adminToken = str(islb, "admin_token", "islb") ?? out.adminToken;
  out.drainMs = num(islb, "drain_ms", "islb") ?? out.drainMs;
  out.watchHistory = {
    changes:
      positive(num(islb, "watch_history_changes", "islb"), "islb.watch_history_changes") ?? out.watchHistory.changes,
    bytes: positive(num(islb, "watch_history_bytes", "islb"), "islb.watch_history_bytes") ?? out.watchHistory.bytes,
    ageMs: positive(num(islb, "watch_history_age_ms", "islb"), "islb.watch_history_age_ms") ?? out.watchHistory.ageMs,
  };
  out.maxSessions = positive(num(islb, "max_sessions", "islb"), "islb.max_sessions") ?? out.maxSessions;
  out.maxNodes = positive(num(islb, "max_nodes", "islb"), "islb.max_nodes") ?? out.maxNodes;
  const secrets = table(islb, "secrets");
  for (const [k, v] of Object.entries(secrets)) {
    if (typeof v !== "string") throw new ConfigError(`islb.secrets.${k} must be a string`);
  }
  out.secrets = { ...out.secrets, ...(secrets as Record<string, string>) };
  const metricsPort = num(metrics, "port", "metrics");
  if (metricsPort !== undefined) out.http = metricsPortListen(metricsPort);
  out.http = str(http, "listen", "http") ?? out.http;
  return out;
}

/** Applies the environment. */
export function applyEnv(cfg: Config, env: NodeJS.ProcessEnv): Config {
  const out: Config = { ...cfg, nats: { ...cfg.nats } };
  if (env.NATS_URL) out.nats.url = env.NATS_URL;
  if (env.REDIS_URL) out.redis = { addrs: [], db: 0, prefix: cfg.redis?.prefix ?? "islb:", url: env.REDIS_URL };
  const replicas = env.ISLB_STORE_REPLICAS ? Number(env.ISLB_STORE_REPLICAS) : undefined;
  out.store = withStore(
    cfg.store,
    {
      kind: env.ISLB_STORE || (env.REDIS_URL ? "redis" : undefined),
      bucket: env.ISLB_STORE_BUCKET || undefined,
      replicas,
    },
    ["ISLB_STORE", "ISLB_STORE_BUCKET", "ISLB_STORE_REPLICAS"],
  );
  if (env.ISLB_NID) out.nid = env.ISLB_NID;
  if (env.ISLB_DC) out.dc = env.ISLB_DC;
  if (env.LOG_LEVEL) out.logLevel = levelOf(env.LOG_LEVEL, "LOG_LEVEL") as string;
  if (env.ISLB_HTTP !== undefined) out.http = env.ISLB_HTTP;
  if (env.ISLB_ADMIN_TOKEN) out.adminToken = env.ISLB_ADMIN_TOKEN;
  return out;
}

/** The NATS connection flags every command takes (client-flags.ts adds them). */
export interface NatsFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** A NATS configuration with the flags given applied over it. */
export function applyNatsFlags(n: NatsConfig, f: NatsFlags): NatsConfig {
  const out = { ...n };
  if (f.nats) out.url = f.nats;
  if (f.natsUser) out.user = f.natsUser;
  if (f.natsPassword) out.pass = f.natsPassword;
  if (f.natsToken) out.token = f.natsToken;
  if (f.natsCreds) out.creds = f.natsCreds;
  if (f.tlsCa || f.tlsCert || f.tlsKey) out.tls = { ca: f.tlsCa, cert: f.tlsCert, key: f.tlsKey };
  return out;
}

/** Flags of `islb serve`, as commander parses them. */
export interface ServeFlags extends NatsFlags {
  config?: string;
  redis?: string;
  store?: string;
  storeBucket?: string;
  storeReplicas?: string;
  nid?: string;
  dc?: string;
  prefix?: string;
  logLevel?: string;
  logFormat?: string;
  leaseMs?: string;
  measure?: string;
  twoChoices?: boolean;
  sessionEvents?: string;
  metricsPort?: string;
  http?: string;
  drainMs?: string;
  ionDiscovery?: boolean;
  adminToken?: string;
  watchHistoryChanges?: string;
  watchHistoryBytes?: string;
  watchHistoryAgeMs?: string;
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${name} must be a whole number ≥ 0`);
  return n;
}

/** The text of a configuration file; a ConfigError naming it when it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * The whole configuration of `islb serve`: defaults < file < environment < flags. What it
 * ignores (unknown keys of the file) is named in `warnings`, for the caller to log.
 */
export function loadConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env, warnings: string[] = []): Config {
  let cfg = defaults();
  const file = flags.config ?? env.ISLB_CONFIG;
  if (file !== undefined) cfg = applyToml(cfg, readConfigFile(file), file, warnings);
  cfg = applyEnv(cfg, env);
  cfg.nats = applyNatsFlags(cfg.nats, flags);
  if (flags.redis) cfg.redis = { addrs: [], db: 0, prefix: cfg.redis?.prefix ?? "islb:", url: flags.redis };
  if (flags.redis && flags.store !== undefined && flags.store !== "redis")
    throw new ConfigError(`--redis and --store ${flags.store}: pick one`);
  const replicas = flags.storeReplicas === undefined ? undefined : Number(flags.storeReplicas);
  cfg.store = withStore(
    cfg.store,
    { kind: flags.store ?? (flags.redis ? "redis" : undefined), bucket: flags.storeBucket, replicas },
    ["--store", "--store-bucket", "--store-replicas"],
  );
  if (flags.nid) cfg.nid = flags.nid;
  if (flags.dc) cfg.dc = flags.dc;
  if (flags.prefix) cfg.prefix = flags.prefix;
  if (flags.logLevel) cfg.logLevel = levelOf(flags.logLevel, "--log-level") as string;
  if (flags.logFormat) cfg.logFormat = formatOf(flags.logFormat, "--log-format") as LogFormat;
  cfg.leaseMs = int(flags.leaseMs, "lease-ms") ?? cfg.leaseMs;
  cfg.measure = measureOf(flags.measure) ?? cfg.measure;
  if (flags.twoChoices) cfg.twoChoices = true;
  cfg.sessionEvents = sessionEventsOf(flags.sessionEvents, "--session-events") ?? cfg.sessionEvents;
  const metricsPort = int(flags.metricsPort, "metrics-port");
  if (metricsPort !== undefined) cfg.http = metricsPortListen(metricsPort);
  if (flags.http !== undefined) cfg.http = flags.http === "off" ? "" : flags.http;
  cfg.drainMs = int(flags.drainMs, "drain-ms") ?? cfg.drainMs;
  if (flags.ionDiscovery === false) cfg.ionDiscovery = false;
  if (flags.adminToken) cfg.adminToken = flags.adminToken;
  cfg.watchHistory = {
    changes:
      positive(int(flags.watchHistoryChanges, "watch-history-changes"), "--watch-history-changes") ??
      cfg.watchHistory.changes,
    bytes:
      positive(int(flags.watchHistoryBytes, "watch-history-bytes"), "--watch-history-bytes") ?? cfg.watchHistory.bytes,
    ageMs:
      positive(int(flags.watchHistoryAgeMs, "watch-history-age-ms"), "--watch-history-age-ms") ??
      cfg.watchHistory.ageMs,
  };
  checkStore(cfg);
  return cfg;
}
