#!/usr/bin/env node
/** The `islb` command. */
import { Command } from "commander";
import { addClientFlags, addNatsFlags, clientConnection, type ClientFlags } from "./client-flags.js";
import { ConfigError, loadConfig, type ServeFlags } from "./config.js";
import { printNodes, printWatch } from "./nodes.js";
import { addPlacementCommands } from "./marks.js";
import { WatchEvents } from "../../generated/islb/islb.js";
import { ProtoFileSchema, ReflectionSchema, UsageError, type Schema } from "./schema.js";
import { callMethod, errorLine, exitCodeOf, jsonDocuments, parseDuration, parseHeaders, splitMethod } from "./call.js";
import type { NatsConnection } from "nats";
import { serve } from "./serve.js";
import { onStopRequest } from "./signals.js";
import { VERSION } from "../version.js";
import { createLogger } from "../app/logger.js";
import { startTracingFromEnv } from "../tracing/otlp.js";
import { addGatewayCommand, prepareGateway } from "./gateway.js";
import { loadGatewayConfig } from "./gateway-config.js";

/** The exit code of a command ended by Ctrl-C, as shells report it: 128 + SIGINT (2). */
const SIGINT_EXIT = 130;

/** What a stop may take beyond the drain (closing the store, NATS, tracing) before islb exits anyway. */
const STOP_GRACE_MS = 10_000;

const program = new Command("islb")
  .description("Inter-Server Load Balancer over gRPC on NATS")
  .version(VERSION, "-V, --version", "print islb's version")
  .showHelpAfterError();

addNatsFlags(
  program.command("serve").description("run the ISLB service (memory store unless Redis or NATS KV is configured)"),
)
  .option("-c, --config <file>", "TOML config; ion's islb.toml is accepted (env ISLB_CONFIG)")
  .option("--redis <url>", "Redis URL: use the Redis store (env REDIS_URL)")
  .option(
    "--store <kind>",
    "the registry store: memory, redis or nats (JetStream KV on islb's NATS connection; env ISLB_STORE)",
  )
  .option(
    "--store-bucket <name>",
    "the NATS KV store's bucket (default islb; sessions in <name>_sessions; env ISLB_STORE_BUCKET)",
  )
  .option(
    "--store-replicas <n>",
    "replicas of the NATS KV buckets islb creates: 1, 3 or 5 (default 1; env ISLB_STORE_REPLICAS)",
  )
  .option("--nid <nid>", "this instance's node id (env ISLB_NID)")
  .option("--dc <dc>", "this instance's data center (env ISLB_DC)")
  .option("--prefix <prefix>", "subject prefix")
  .option("--log-level <level>", "log level: trace, debug, info, warn, error, fatal, silent (env LOG_LEVEL)")
  .option("--log-format <format>", "log lines as json, pretty, or auto: pretty on a terminal (default)")
  .option("--lease-ms <ms>", "default node lease")
  .option("--measure <measure>", "load measure: cpu, sessions, tracks, bandwidth")
  .option("--two-choices", "place sessions on the lesser of two random nodes")
  .option(
    "--session-events <which>",
    "session events Watch announces: moves (moved, expanded, released; default) or all (also placed, expired)",
  )
  .option(
    "--http <host:port>",
    "the HTTP listener: /healthz, /readyz, /metrics, the cluster page at / (default 127.0.0.1:9464; off: none; env ISLB_HTTP)",
  )
  .option("--metrics-port <port>", "the HTTP listener on 127.0.0.1:<port> (kept from before --http)")
  .option("--drain-ms <ms>", "on SIGTERM, how long calls in progress may finish (default 5000)")
  .option("--admin-token <token>", "the operator's credential: release any session (env ISLB_ADMIN_TOKEN)")
  .option("--watch-history-changes <n>", "changes kept for Watch resumes, at most (default 100000)")
  .option("--watch-history-bytes <n>", "bytes of changes kept for Watch resumes, at most (default 16 MiB)")
  .option("--watch-history-age-ms <ms>", "age of changes kept for Watch resumes, at most (default 10 minutes)")
  .option("--no-ion-discovery", "do not serve ion's nats-discovery protocol")
  .option("--gateway <host:port>", "also run islb gateway here (its other settings from [gateway] in the config file)")
  .option("--start-nats", "start a local nats-server when none answers at a loopback URL")
  .action(async (flags: ServeFlags & { startNats?: boolean; gateway?: string }) => {
    const warnings: string[] = [];
    const cfg = loadConfig(flags, process.env, warnings);
    const log = createLogger(cfg.logLevel, cfg.logFormat, { nid: cfg.nid });
    for (const w of warnings) log.warn({}, w);
    const tracing = await startTracingFromEnv(`islb ${cfg.nid}`, log);
    // The embedded gateway shares islb's connection, so it carries calls under islb's prefix.
    const gateway =
      flags.gateway === undefined
        ? undefined
        : prepareGateway(
            loadGatewayConfig({ config: flags.config, listen: flags.gateway, prefix: cfg.prefix }),
            "--gateway",
          );
    const running = await serve(cfg, log, {
      startLocalNats: flags.startNats === true,
      tracing: tracing !== undefined,
      gateway,
    });
    onStopRequest((reason) => {
      log.info(
        { reason, drainMs: cfg.drainMs },
        `stopping: draining calls in progress (${reason}; they have up to ${cfg.drainMs} ms)`,
      );
      // A stop is bounded: should a connection's close hang (a store mid-reconnect), exit anyway.
      const limitMs = cfg.drainMs + STOP_GRACE_MS;
      setTimeout(() => {
        log.error({ limitMs }, `stop did not finish within ${limitMs} ms: exiting`);
        process.exit(1);
      }, limitMs).unref();
      running
        .close()
        .then(() => tracing?.shutdown())
        .then(
          () => process.exit(0),
          (e: unknown) => {
            log.error({ err: e }, "stop failed");
            process.exit(1);
          },
        );
    });
  });

addClientFlags(program.command("nodes [service]").description("list the registered nodes (all services, or one)"))
  .option("--json", "one JSON document per node")
  .action(async (service: string | undefined, flags: ClientFlags & { json?: boolean }) =>
    client(flags, (nc) => printNodes(nc, service ?? "", flags.json === true, flags)),
  );

addClientFlags(
  program
    .command("watch [service]")
    .description("print node changes (and session moves, with --events) as they happen (all services, or one)"),
)
  .option("--from <revision>", "resume after this revision", "0")
  .option("--json", "one JSON document per event")
  .option("--events <kinds>", "nodes, sessions (moves, releases) or all", "nodes")
  .action(
    async (service: string | undefined, flags: ClientFlags & { from: string; json?: boolean; events: string }) => {
      const events = {
        nodes: WatchEvents.WATCH_EVENTS_NODES,
        sessions: WatchEvents.WATCH_EVENTS_SESSIONS,
        all: WatchEvents.WATCH_EVENTS_ALL,
      }[flags.events];
      if (events === undefined)
        throw new UsageError(`--events must be nodes, sessions or all, not ${JSON.stringify(flags.events)}`);
      const from = Number(flags.from);
      if (!/^\d+$/.test(flags.from) || !Number.isSafeInteger(from))
        throw new UsageError(
          `--from must be a revision (a whole number, 0 or more), not ${JSON.stringify(flags.from)}`,
        );
      const ac = new AbortController();
      process.on("SIGINT", () => ac.abort());
      await client(flags, (nc) =>
        printWatch(nc, service ?? "", from, flags.json === true, ac.signal, { ...flags, events }),
      );
      // Ended by Ctrl-C, as `call` is: the shell's 128 + SIGINT.
      if (ac.signal.aborted) process.exitCode = SIGINT_EXIT;
    },
  );

interface SchemaFlags extends ClientFlags {
  proto?: string[];
  importPath?: string[];
  wire?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function withSchemaFlags(cmd: Command): Command {
  return addClientFlags(cmd)
    .option("--proto <file>", "read the schema from this .proto file instead of reflection (repeatable)", collect)
    .option("--import-path <dir>", "where --proto imports are found (repeatable)", collect)
    .option("--wire <wire>", "native, or nats-grpc to talk to Go nats-grpc servers", "native");
}

function clientOptions(f: SchemaFlags) {
  if (f.wire !== undefined && f.wire !== "native" && f.wire !== "nats-grpc")
    throw new UsageError(`--wire must be native or nats-grpc, not ${JSON.stringify(f.wire)}`);
  return { prefix: f.prefix, nid: f.nid, wire: f.wire as "native" | "nats-grpc" | undefined };
}

async function schemaOf(nc: NatsConnection, f: SchemaFlags): Promise<Schema> {
  if (f.proto !== undefined && f.proto.length > 0) return ProtoFileSchema.load(f.proto, f.importPath ?? []);
  return new ReflectionSchema(nc, clientOptions(f));
}

/** Runs a client command: connect, act, close; status errors exit 64 + code, others 1. */
async function client(f: ClientFlags, act: (nc: NatsConnection) => Promise<void>): Promise<void> {
  const nc = await clientConnection(f);
  try {
    await act(nc);
  } catch (e) {
    process.stderr.write(`${errorLine(e)}\n`);
    process.exitCode = exitCodeOf(e);
  } finally {
    await nc.close();
  }
}

addPlacementCommands(program, client);

withSchemaFlags(
  program.command("list [service]").description("list the services a server hosts, or the methods of one"),
).action(async (service: string | undefined, f: SchemaFlags) =>
  client(f, async (nc) => {
    const schema = await schemaOf(nc, f);
    const names = service === undefined ? await schema.services() : await schema.methods(service);
    for (const n of names.sort()) process.stdout.write(`${n}\n`);
  }),
);

withSchemaFlags(program.command("describe <symbol>").description("describe a service, method, message or enum")).action(
  async (symbol: string, f: SchemaFlags) =>
    client(f, async (nc) => {
      process.stdout.write(`${await (await schemaOf(nc, f)).describe(symbol)}\n`);
    }),
);

withSchemaFlags(
  program
    .command("call <method>")
    .description("call SERVICE/METHOD (or SERVICE.METHOD) with JSON; one JSON document per response"),
)
  .option("-d, --data <json>", "the request as JSON; @ reads stdin (JSON lines for client streaming)")
  .option("-H, --header <header>", "request metadata 'key: value' (repeatable; -bin keys take base64)", collect)
  .option("--timeout <duration>", "deadline of the call, e.g. 2s or 500ms")
  .action(async (target: string, f: SchemaFlags & { data?: string; header?: string[]; timeout?: string }) =>
    client(f, async (nc) => {
      const { service, method } = splitMethod(target);
      const timeoutMs = f.timeout === undefined ? undefined : parseDuration(f.timeout);
      const metadata = parseHeaders(f.header ?? []);
      const m = await (await schemaOf(nc, f)).method(service, method);
      let text = f.data ?? "";
      if (text === "@") {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        text = Buffer.concat(chunks).toString("utf8");
      }
      const ac = new AbortController();
      process.once("SIGINT", () => ac.abort());
      try {
        await callMethod(nc, m, jsonDocuments(text), {
          client: clientOptions(f),
          metadata,
          timeoutMs,
          signal: ac.signal,
          out: (line) => process.stdout.write(`${line}\n`),
        });
      } catch (e) {
        // Ctrl-C is how a person ends a stream: no error, the shell's 128 + SIGINT.
        if (!ac.signal.aborted) throw e;
        process.exitCode = SIGINT_EXIT;
      }
    }),
  );

addGatewayCommand(program);

program.parseAsync().catch((e: unknown) => {
  const msg =
    e instanceof ConfigError ? `config: ${e.message}` : e instanceof UsageError ? e.message : (e as Error).message;
  process.stderr.write(`islb: ${msg}\n`);
  process.exit(1);
});
