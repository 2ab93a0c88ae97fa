/**
 * The gateway's configuration: defaults < the TOML file (`[gateway]`, and `[nats]` and
 * `[islb] prefix` as `islb serve` reads them) < the environment < flags.
 *
 *   [gateway]
 *   listen = "0.0.0.0:50051"
 *   allow = ["islb.ISLB", "grpc.health.v1.Health"]
 *   expose_all = false
 *   auth_token = "..."
 *   tls_cert = "/etc/islb/gw.pem"
 *   tls_key = "/etc/islb/gw.key"
 *   tls_ca = "/etc/islb/clients-ca.pem"
 *   cors_origins = ["https://app.example"]
 *   compress_min_bytes = 1024   # responses from this size compressed when the client accepts it; -1: never
 */
import { parse } from "smol-toml";
import { ConfigError, applyToml, defaults, levelOf, readConfigFile, type NatsConfig } from "./config.js";

/** What `islb gateway` runs with, once file, environment and flags are applied. */
export interface GatewayConfig {
  listen: string;
  nats: NatsConfig;
  prefix: string;
  allow?: string[];
  exposeAll: boolean;
  authToken?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  corsOrigins?: string[];
  /** Responses of at least this many bytes are compressed when the client accepts it; negative: never. */
  compressMinBytes?: number;
  logLevel: string;
}

/** The flags of `islb gateway`, as commander parses them (undefined: not given). */
export interface GatewayFlags {
  config?: string;
  listen?: string;
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  prefix?: string;
  allow?: string[];
  exposeAll?: boolean;
  authToken?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  corsOrigin?: string[];
  compressMinBytes?: string;
  logLevel?: string;
}

type Table = Record<string, unknown>;

function str(t: Table, k: string): string | undefined {
  const v = t[k];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ConfigError(`gateway.${k} must be a string`);
  return v;
}

function strings(t: Table, k: string): string[] | undefined {
  const v = t[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw new ConfigError(`gateway.${k} must be a list of strings`);
  return v as string[];
}

/** The gateway's configuration from a file (if any), the environment and the flags. */
export function loadGatewayConfig(f: GatewayFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const base = defaults();
  const cfg: GatewayConfig = {
    listen: "127.0.0.1:50051",
    nats: base.nats,
    prefix: base.prefix,
    exposeAll: false,
    logLevel: base.logLevel,
  };
  const file = f.config ?? env.ISLB_CONFIG;
  if (file !== undefined) {
    const text = readConfigFile(file);
    const shared = applyToml(base, text, file);
    cfg.nats = shared.nats;
    cfg.prefix = shared.prefix;
    cfg.logLevel = shared.logLevel;
    const g = ((parse(text) as Table).gateway ?? {}) as Table;
    if (typeof g !== "object" || Array.isArray(g)) throw new ConfigError("[gateway] must be a table");
    cfg.listen = str(g, "listen") ?? cfg.listen;
    cfg.allow = strings(g, "allow");
    const all = g.expose_all;
    if (all !== undefined && typeof all !== "boolean")
      throw new ConfigError("gateway.expose_all must be true or false");
    cfg.exposeAll = all === true;
    cfg.authToken = str(g, "auth_token");
    cfg.tlsCert = str(g, "tls_cert");
    cfg.tlsKey = str(g, "tls_key");
    cfg.tlsCa = str(g, "tls_ca");
    cfg.corsOrigins = strings(g, "cors_origins");
    const c = g.compress_min_bytes;
    if (c !== undefined && (typeof c !== "number" || !Number.isInteger(c)))
      throw new ConfigError("gateway.compress_min_bytes must be an integer (bytes; -1: never compress)");
    cfg.compressMinBytes = c;
  }
  if (env.NATS_URL) cfg.nats = { ...cfg.nats, url: env.NATS_URL };
  if (env.ISLB_GATEWAY_TOKEN) cfg.authToken = env.ISLB_GATEWAY_TOKEN;
  if (env.LOG_LEVEL) cfg.logLevel = levelOf(env.LOG_LEVEL, "LOG_LEVEL") as string;
  const n = { ...cfg.nats };
  if (f.nats) n.url = f.nats;
  if (f.natsUser) n.user = f.natsUser;
  if (f.natsPassword) n.pass = f.natsPassword;
  if (f.natsToken) n.token = f.natsToken;
  if (f.natsCreds) n.creds = f.natsCreds;
  if (f.natsTlsCa || f.natsTlsCert || f.natsTlsKey) n.tls = { ca: f.natsTlsCa, cert: f.natsTlsCert, key: f.natsTlsKey };
  cfg.nats = n;
  if (f.listen) cfg.listen = f.listen;
  if (f.prefix) cfg.prefix = f.prefix;
  if (f.allow !== undefined && f.allow.length > 0) cfg.allow = f.allow;
  if (f.exposeAll === true) cfg.exposeAll = true;
  if (f.authToken) cfg.authToken = f.authToken;
  if (f.tlsCert) cfg.tlsCert = f.tlsCert;
  if (f.tlsKey) cfg.tlsKey = f.tlsKey;
  if (f.tlsCa) cfg.tlsCa = f.tlsCa;
  if (f.corsOrigin !== undefined && f.corsOrigin.length > 0) cfg.corsOrigins = f.corsOrigin;
  if (f.compressMinBytes !== undefined) {
    if (!/^-?\d+$/.test(f.compressMinBytes))
      throw new ConfigError(`--compress-min-bytes must be an integer, not ${JSON.stringify(f.compressMinBytes)}`);
    cfg.compressMinBytes = Number(f.compressMinBytes);
  }
  if (f.logLevel) cfg.logLevel = levelOf(f.logLevel, "--log-level") as string;
  if (cfg.allow !== undefined && cfg.allow.length === 0) cfg.allow = undefined;
  if (cfg.authToken === "") cfg.authToken = undefined;
  return cfg;
}
