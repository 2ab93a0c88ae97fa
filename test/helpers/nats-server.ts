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

/** Starts nats-server (binary from $NATS_SERVER_BIN or PATH) on a free port. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "islb-nats-"));
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, ...(options.args ?? [])], { stdio: "ignore" });
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
    port,
    url: `nats://127.0.0.1:${port}`,
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
