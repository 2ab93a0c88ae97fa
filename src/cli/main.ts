#!/usr/bin/env node
/** The `islb` command. */
import { Command } from "commander";
import { pino } from "pino";
import { addClientFlags, clientConnection, type ClientFlags } from "./client-flags.js";
import { ConfigError, loadConfig, type ServeFlags } from "./config.js";
import { printNodes, printWatch } from "./nodes.js";
import { serve } from "./serve.js";

const program = new Command("islb").description("Inter-Server Load Balancer over gRPC on NATS").showHelpAfterError();

program
  .command("serve")
  .description("run the ISLB service (memory store unless Redis is configured)")
  .option("-c, --config <file>", "TOML config; ion's islb.toml is accepted (env ISLB_CONFIG)")
  .option("--nats <url>", "NATS server URL (env NATS_URL)")
  .option("--nats-user <user>", "NATS user")
  .option("--nats-password <password>", "NATS password")
  .option("--nats-token <token>", "NATS token")
  .option("--nats-creds <file>", "NATS credentials file")
  .option("--tls-ca <file>", "TLS CA certificate")
  .option("--tls-cert <file>", "TLS client certificate")
  .option("--tls-key <file>", "TLS client key")
  .option("--redis <url>", "Redis URL: use the Redis store (env REDIS_URL)")
  .option("--nid <nid>", "this instance's node id (env ISLB_NID)")
  .option("--dc <dc>", "this instance's data center (env ISLB_DC)")
  .option("--prefix <prefix>", "subject prefix")
  .option("--log-level <level>", "log level: trace, debug, info, warn, error (env LOG_LEVEL)")
  .option("--lease-ms <ms>", "default node lease")
  .option("--measure <measure>", "load measure: cpu, sessions, tracks, bandwidth")
  .option("--two-choices", "place sessions on the lesser of two random nodes")
  .option("--metrics-port <port>", "serve Prometheus metrics on this port")
  .option("--no-ion-discovery", "do not serve ion's nats-discovery protocol")
  .option("--start-nats", "start a local nats-server when none answers at a loopback URL")
  .action(async (flags: ServeFlags & { startNats?: boolean }) => {
    const cfg = loadConfig(flags);
    const log = pino({ level: cfg.logLevel, base: { nid: cfg.nid } });
    const running = await serve(cfg, log, { startLocalNats: flags.startNats === true });
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, "stopping: draining calls in progress");
      running.close().then(
        () => process.exit(0),
        (e: unknown) => {
          log.error({ err: e }, "stop failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });

addClientFlags(program.command("nodes [service]").description("list the registered nodes (all services, or one)"))
  .option("--json", "one JSON document per node")
  .action(async (service: string | undefined, flags: ClientFlags & { json?: boolean }) => {
    const nc = await clientConnection(flags);
    try {
      await printNodes(nc, service ?? "", flags.json === true, flags);
    } finally {
      await nc.close();
    }
  });

addClientFlags(program.command("watch [service]").description("print node changes as they happen (all services, or one)"))
  .option("--from <revision>", "resume after this revision", "0")
  .option("--json", "one JSON document per event")
  .action(async (service: string | undefined, flags: ClientFlags & { from: string; json?: boolean }) => {
    const nc = await clientConnection(flags);
    const ac = new AbortController();
    process.on("SIGINT", () => ac.abort());
    try {
      await printWatch(nc, service ?? "", Number(flags.from), flags.json === true, ac.signal, flags);
    } finally {
      await nc.close();
    }
  });

program.parseAsync().catch((e: unknown) => {
  const msg = e instanceof ConfigError ? `config: ${e.message}` : (e as Error).message;
  process.stderr.write(`islb: ${msg}\n`);
  process.exit(1);
});
