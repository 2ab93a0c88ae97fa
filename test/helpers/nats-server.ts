/**
 * Starts a real nats-server on a free loopback port for a test, and stops it (only the
 * process it started, by PID). Tests can kill, restart and pause it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const started = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** Kills `child` (a server this test process started) if it is still running when the test process exits. */
export function killOnExit(child: ChildProcess): void {
  started.add(child);
  child.once("exit", () => started.delete(child));
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = netConnect({ port, host: "127.0.0.1" });
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

export interface NatsServerProcess {
  readonly port: number;
  readonly url: string;
  /** The running process's PID (changes on restart). */
  readonly pid: number;
  /** Kills the process (SIGKILL) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it (SIGTERM) and removes its files. */
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /** Extra command-line arguments. */
  args?: string[];
  /** Port to use (default: a free one). */
  port?: number;
}

/** A server process a test started: killed, restarted (same port and files) and stopped by its PID only. */
export interface ServerProcess {
  readonly pid: number;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Spawns `bin` with the arguments `args(dir)` (dir: a fresh temporary folder for its files),
 * waits for `port`, and returns how to kill, restart and stop it.
 */
export async function spawnServer(bin: string, port: number, args: (dir: string) => string[], dirPrefix: string): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(bin, args(dir), { stdio: "ignore" });
    child.on("error", () => {});
    killOnExit(child);
    await waitForPort(port);
  };
  const exit = (sig: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      const c = child;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill(sig);
    });
  await start();
  return {
    get pid() {
      return child?.pid ?? -1;
    },
    kill: () => exit("SIGKILL"),
    restart: async () => {
      await exit("SIGKILL");
      await start();
    },
    stop: async () => {
      await exit("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts nats-server (binary from $NATS_SERVER_BIN or PATH) on a free port. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const port = options.port ?? (await freePort());
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  const p = await spawnServer(bin, port, (dir) => ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, ...(options.args ?? [])], "islb-nats-");
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return p.pid;
    },
    kill: p.kill,
    restart: p.restart,
    stop: p.stop,
  };
}
