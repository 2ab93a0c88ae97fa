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
// Ended by a signal, a process exits without its "exit" event: exit instead, so that the
// servers above go with it.
for (const [signal, n] of [
  ["SIGTERM", 15],
  ["SIGINT", 2],
  ["SIGHUP", 1],
] as const)
  process.once(signal, () => process.exit(128 + n));

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

/** How a server process tells the port it listens on, when it picked it itself. */
export interface SpawnOptions {
  /** A pattern of its output whose first group is the port (with `port` 0: the process picks one). */
  portFromOutput?: RegExp;
}

/**
 * Spawns `bin` with the arguments `args(dir, port)` (dir: a fresh temporary folder for its
 * files), waits until it listens, and returns how to kill, restart and stop it. Fails at once,
 * with the reason, when the binary cannot be started (missing: ENOENT) or exits before it
 * listens (its last output says why, a port taken for example). With `port` 0 and
 * `portFromOutput`, the process picks a free port itself (no race with other tests for one
 * found free earlier) and restarts reuse it.
 */
export async function spawnServer(
  bin: string,
  port: number,
  args: (dir: string, port: number) => string[],
  dirPrefix: string,
  options: SpawnOptions = {},
): Promise<ServerProcess & { readonly port: number }> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  let child: ChildProcess | undefined;
  let current = port;
  const start = async (): Promise<void> => {
    const c = spawn(bin, args(dir, current), { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    killOnExit(c);
    let output = "";
    let learnt: (p: number) => void = () => {};
    const portSeen = new Promise<number>((resolve) => (learnt = resolve));
    const onData = (d: Buffer): void => {
      output = (output + d.toString()).slice(-8192);
      const m = options.portFromOutput?.exec(output);
      if (m?.[1] !== undefined) learnt(Number(m[1]));
    };
    c.stdout?.on("data", onData);
    c.stderr?.on("data", onData);
    const failed = new Promise<never>((_, reject) => {
      c.once("error", (e) =>
        reject(
          new Error(
            `cannot start ${bin}: ${e.message}${(e as { code?: string }).code === "ENOENT" ? " (is it installed and on PATH?)" : ""}`,
          ),
        ),
      );
      // "close", not "exit": it comes once the process's output has been read to its end.
      c.once("close", (code, signal) =>
        reject(
          new Error(
            `${bin} exited (${signal ?? `code ${code}`}) before it listened: ${output.trim().split("\n").slice(-3).join(" | ")}`,
          ),
        ),
      );
    });
    failed.catch(() => {});
    if (current === 0) {
      if (options.portFromOutput === undefined) throw new Error("port 0 needs portFromOutput");
      current = await Promise.race([
        portSeen,
        failed,
        new Promise<never>((_, r) =>
          setTimeout(() => r(new Error(`${bin} named no port after 10 s: ${output.trim()}`)), 10_000).unref(),
        ),
      ]);
    }
    await Promise.race([waitForPort(current), failed]);
    c.stdout?.off("data", onData);
    c.stderr?.off("data", onData);
    c.stdout?.resume();
    c.stderr?.resume();
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
    get port() {
      return current;
    },
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

/**
 * Starts nats-server (binary from $NATS_SERVER_BIN or PATH). Without a port, nats-server picks
 * a free one itself (`-p -1`) and the helper reads it from its log, so concurrent tests never
 * race for a port; restarts keep it.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  const p = await spawnServer(
    bin,
    options.port ?? 0,
    (dir, port) => [
      "-a",
      "127.0.0.1",
      "-p",
      port === 0 ? "-1" : String(port),
      "-js",
      "-sd",
      dir,
      ...(options.args ?? []),
    ],
    "islb-nats-",
    { portFromOutput: /Listening for client connections on [^\s]*:(\d+)/ },
  );
  return {
    port: p.port,
    url: `nats://127.0.0.1:${p.port}`,
    get pid() {
      return p.pid;
    },
    kill: p.kill,
    restart: p.restart,
    stop: p.stop,
  };
}
