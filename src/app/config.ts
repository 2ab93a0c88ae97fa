/**
 * The configuration of one islb instance: every setting, with its default. The one place the
 * configuration's types live; `islb serve` fills it from a TOML file, the environment and its
 * flags (cli/config.ts), an embedder builds it from `defaults()`.
 */
import { randomBytes } from "node:crypto";
import type { Measure } from "../balancer/score.js";
import type { RedisConfig } from "../registry/redis.js";
import { DEFAULT_HISTORY, type HistoryLimits } from "../registry/history.js";
import type { SessionEventsMode } from "../registry/model.js";

export type { HistoryLimits, Measure, RedisConfig, SessionEventsMode };

/** Where the registry lives: in this process, in Redis, or in NATS JetStream KV buckets. */
export type StoreKind = "memory" | "redis" | "nats";

/** Which store, and the NATS KV store's buckets ([store]). */
export interface StoreConfig {
  /** Unset: Redis when it is configured, else memory. */
  kind?: StoreKind;
  /** The NATS KV nodes bucket (sessions: `<bucket>_sessions`). */
  bucket: string;
  /** Replicas of the NATS KV buckets when islb creates them (1, 3 or 5). */
  replicas: number;
}

/** The store a configuration runs on. */
export function storeKind(config: Config): StoreKind {
  return config.store?.kind ?? (config.redis === undefined ? "memory" : "redis");
}

/** How log lines are written. */
export type LogFormat = "auto" | "json" | "pretty";

/** The HTTP listener's default address: loopback only. */
export const DEFAULT_HTTP = "127.0.0.1:9464";

/** Where and how to connect to NATS. */
export interface NatsConfig {
  url: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS credentials file (JWT + nkey seed). */
  creds?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  /** The connection's inbox prefix (nats.js `inboxPrefix`), e.g. `_INBOX.islb` for per-user NATS permissions. */
  inboxPrefix?: string;
}

/** Everything an islb instance is configured with. */
export interface Config {
  nats: NatsConfig;
  /** The Redis store; undefined: the memory store (unless `store.kind` says otherwise). */
  redis?: RedisConfig;
  /** Which store ([store] kind), and the NATS KV store's bucket and replicas. */
  store?: StoreConfig;
  /** This islb instance's node id (also answers on nrpc.<nid>.islb.ISLB.*). */
  nid: string;
  /** This instance's data center (ion's [global] dc). */
  dc: string;
  /** The subject prefix ("nrpc"). */
  prefix: string;
  /** pino's level: trace, debug, info, warn, error, fatal, silent. */
  logLevel: string;
  /** Log lines as JSON, or pretty for people ("auto": pretty when stdout is a terminal). */
  logFormat: LogFormat;
  /** Lease granted when a node asks for none (ms). */
  leaseMs: number;
  /** How often nodes are told to heartbeat (default a third of their lease). */
  heartbeatMs?: number;
  /** A session's placement is kept this long after its last lookup (ms). */
  sessionIdleMs: number;
  /**
   * Which session events Watch announces: "moves" (moved, expanded, released) or "all" (also
   * each new placement and each idle expiry; costs a little per new session: see docs/PROTOCOL.md).
   */
  sessionEvents: SessionEventsMode;
  /** The load figure placement compares. */
  measure: Measure;
  /** Place on the lesser of two random eligible nodes. */
  twoChoices: boolean;
  /** Registration secrets by service ([islb.secrets]). */
  secrets: Record<string, string>;
  /**
   * The HTTP listener (`HOST:PORT`: /healthz, /readyz, /metrics and the live cluster page);
   * "" for none.
   */
  http: string;
  /** How long a stop (SIGTERM) lets calls in progress finish before ending them (ms). */
  drainMs: number;
  /** Serve ion's nats-discovery protocol too. */
  ionDiscovery: boolean;
  /** The operator's credential (ReleaseSession of any session); "" for none. */
  adminToken: string;
  /** Bounds of the change history kept for resuming watchers: changes, bytes (estimated), age. */
  watchHistory: HistoryLimits;
  /** The memory store's bounds: sessions and nodes kept at most (past them, RESOURCE_EXHAUSTED). */
  maxSessions?: number;
  maxNodes?: number;
}

/** Defaults: the embedded set-up (memory store, local NATS). */
export function defaults(): Config {
  return {
    nats: { url: "nats://127.0.0.1:4222" },
    store: { bucket: "islb", replicas: 1 },
    nid: `islb-${randomBytes(3).toString("hex")}`,
    dc: "",
    prefix: "nrpc",
    logLevel: "info",
    logFormat: "auto",
    leaseMs: 6000,
    sessionIdleMs: 600_000,
    sessionEvents: "moves",
    measure: "sessions",
    twoChoices: false,
    secrets: {},
    http: DEFAULT_HTTP,
    drainMs: 5000,
    ionDiscovery: true,
    adminToken: "",
    watchHistory: { ...DEFAULT_HISTORY },
  };
}
