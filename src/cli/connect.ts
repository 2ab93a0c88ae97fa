/** Connecting to NATS with the options real deployments need; a local nats-server for the embedded set-up. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from "nats";
import type { Logger } from "../log.js";
import type { NatsConfig } from "./config.js";

export function connectionOptions(c: NatsConfig, name: string): ConnectionOptions {
  const o: ConnectionOptions = {
    servers: c.url.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
  if (c.user !== undefined) o.user = c.user;
  if (c.pass !== undefined) o.pass = c.pass;
  if (c.token !== undefined) o.token = c.token;
  if (c.inboxPrefix !== undefined) o.inboxPrefix = c.inboxPrefix;
  if (c.creds !== undefined) o.authenticator = credsAuthenticator(readFileSync(c.creds));
  if (c.tls !== undefined) o.tls = { caFile: c.tls.ca, certFile: c.tls.cert, keyFile: c.tls.key };
  return o;
}

/** A failed connection as every islb command reports it: `cannot connect to NATS at URL: REASON`. */
function unreachable(url: string, e: unknown): Error {
  return new Error(`cannot connect to NATS at ${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** A nats-server this process started (and stops on exit). */
export interface LocalNats {
  child: ChildProcess;
  stop(): void;
}

function isLoopback(url: string): { port: number } | undefined {
  const m = /^(?:nats:\/\/)?(127\.0\.0\.1|localhost)(?::(\d+))?$/.exec(url.trim());
  return m === null ? undefined : { port: Number(m[2] ?? 4222) };
}

/**
 * Connects; when nothing answers at a loopback URL and `startLocal` is set and nats-server is
 * installed, starts one there (with JetStream) and connects to it. A failure names the URL.
 */
export async function connectNats(
  c: NatsConfig,
  name: string,
  log: Logger,
  startLocal = false,
): Promise<{ nc: NatsConnection; local?: LocalNats }> {
  const opts = connectionOptions(c, name);
  try {
    return { nc: await connect({ ...opts, timeout: 2000 }) };
  } catch (e) {
    const lb = isLoopback(c.url);
    if (!startLocal || lb === undefined || spawnSync("nats-server", ["--version"]).status !== 0)
      throw unreachable(c.url, e);
    log.info({ url: c.url }, "no NATS server answers; starting a local nats-server");
    const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(lb.port), "-js"], { stdio: "ignore" });
    const stop = (): void => {
      if (child.exitCode === null) child.kill("SIGTERM");
    };
    process.once("exit", stop);
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        return { nc: await connect({ ...opts, timeout: 1000 }), local: { child, stop } };
      } catch {
        /* not up yet */
      }
    }
    stop();
    throw unreachable(c.url, e);
  }
}
