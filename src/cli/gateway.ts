/** `islb gateway`: stock gRPC, gRPC-Web and Connect clients reach every service on the bus (docs/GATEWAY.md). */
import { readFileSync } from "node:fs";
import { isLoopback, parseListen as parseListenAddress } from "../http/listen-address.js";
import type { Command } from "commander";
import { pino } from "pino";
import { createGateway, type GatewayOptions } from "../gateway/index.js";
import { dottedProblem, tokenProblem } from "../subjects.js";
import { connectNats } from "./connect.js";
import { loadGatewayConfig, type GatewayConfig, type GatewayFlags } from "./gateway-config.js";

/** A mistake in the flags: printed as it is. */
export class GatewayUsageError extends Error {}

/** `host:port` (IPv6 in brackets), or a bare port on 127.0.0.1; a mistake is a usage error naming `flag`. */
export function parseListen(s: string, flag = "--listen"): { host: string; port: number } {
  try {
    return parseListenAddress(s);
  } catch {
    throw new GatewayUsageError(`${flag} must be HOST:PORT, not ${JSON.stringify(s)}`);
  }
}

/** Why an --allow entry (SERVICE, SERVICE/METHOD, PKG.* or *) can match nothing, or undefined. */
function allowProblem(a: string): string | undefined {
  if (a === "*") return undefined;
  if (a.endsWith(".*")) return dottedProblem("--allow package", a.slice(0, -2));
  const slash = a.indexOf("/", 1);
  if (slash < 0) return dottedProblem("--allow service", a);
  return (
    dottedProblem("--allow service", a.slice(a.startsWith("/") ? 1 : 0, slash)) ??
    tokenProblem("--allow method", a.slice(slash + 1))
  );
}

const collect = (v: string, prev: string[] = []): string[] => [
  ...prev,
  ...v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== ""),
];

/** Where a gateway listens and what it is given, checked as `islb gateway` and `islb serve --gateway` check it. */
export interface PreparedGateway {
  host: string;
  port: number;
  options: Omit<GatewayOptions, "logger">;
}

/**
 * Checks a gateway's configuration (an open non-loopback address needs --allow or --expose-all)
 * and reads its TLS files; `listenFlag` is the flag a bad address is blamed on.
 */
export function prepareGateway(f: GatewayConfig, listenFlag = "--listen"): PreparedGateway {
  const { host, port } = parseListen(f.listen, listenFlag);
  for (const a of f.allow ?? []) {
    const problem = allowProblem(a);
    if (problem !== undefined) throw new GatewayUsageError(problem);
  }
  if (!isLoopback(host) && f.allow === undefined && !f.exposeAll) {
    throw new GatewayUsageError(
      `refusing to expose every service on ${host}, which is not a loopback address: name what to expose with --allow SERVICE[/METHOD], or pass --expose-all`,
    );
  }
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined))
    throw new GatewayUsageError("--tls-cert and --tls-key go together");
  if (f.tlsCa !== undefined && f.tlsCert === undefined)
    throw new GatewayUsageError("--tls-ca (client certificates) needs --tls-cert and --tls-key");
  const tls =
    f.tlsCert === undefined
      ? undefined
      : {
          cert: readFileSync(f.tlsCert),
          key: readFileSync(f.tlsKey as string),
          ca: f.tlsCa === undefined ? undefined : readFileSync(f.tlsCa),
        };
  return {
    host,
    port,
    options: {
      prefix: f.prefix,
      allow: f.allow,
      authToken: f.authToken,
      tls,
      corsOrigins: f.corsOrigins,
      compressMinBytes: f.compressMinBytes,
    },
  };
}

async function run(flags: GatewayFlags): Promise<void> {
  const f = loadGatewayConfig(flags);
  const { host, port, options } = prepareGateway(f);
  const log = pino({ level: f.logLevel });
  const { nc } = await connectNats(f.nats, "islb gateway", log);
  const gateway = createGateway(nc, { ...options, logger: log });
  const a = await gateway.listen(port, host);
  process.stdout.write(
    `islb gateway listening on ${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}${options.tls ? " (TLS)" : ""}\n`,
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    gateway
      .close()
      .then(() => nc.drain())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/** Adds `islb gateway` to the program. */
export function addGatewayCommand(program: Command): void {
  program
    .command("gateway")
    .description("serve gRPC, gRPC-Web and Connect on HTTP, carrying every call to the services on the bus")
    .option("-c, --config <file>", "TOML config: [gateway], [nats], [islb] prefix (env ISLB_CONFIG)")
    .option(
      "--listen <host:port>",
      "where to listen, 127.0.0.1:50051 by default (h2c, or TLS with --tls-cert/--tls-key)",
    )
    .option("--nats <url>", "NATS server URL(s), comma-separated (env NATS_URL)")
    .option("--nats-user <user>", "NATS user")
    .option("--nats-password <password>", "NATS password")
    .option("--nats-token <token>", "NATS token")
    .option("--nats-creds <file>", "NATS credentials file")
    .option("--nats-tls-ca <file>", "CA of the NATS server's certificate")
    .option("--nats-tls-cert <file>", "client certificate for NATS")
    .option("--nats-tls-key <file>", "client key for NATS")
    .option("--prefix <prefix>", "subject prefix (nrpc)")
    .option(
      "--allow <service[/method]>",
      "expose only these (repeatable or comma-separated; pkg.* for a package, * for all)",
      collect,
    )
    .option("--expose-all", "expose every service on a non-loopback address")
    .option("--auth-token <token>", "require 'authorization: Bearer <token>' on every call (env ISLB_GATEWAY_TOKEN)")
    .option("--tls-cert <file>", "TLS certificate of the HTTP side")
    .option("--tls-key <file>", "TLS key of the HTTP side")
    .option("--tls-ca <file>", "require client certificates signed by this CA (mTLS)")
    .option(
      "--cors-origin <origin>",
      "let browsers on this origin call (repeatable or comma-separated; * for any)",
      collect,
    )
    .option(
      "--compress-min-bytes <n>",
      "compress responses of at least n bytes when the client accepts gzip or deflate (1024; -1: never)",
    )
    .option("--log-level <level>", "log level: trace, debug, info, warn, error, fatal, silent (env LOG_LEVEL)")
    .action(async (f: GatewayFlags) => run(f));
}
