/** Starts a real redis-server on a free loopback port for a test; stops only that process. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./nats-server.js";

export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(args: string[] = []): Promise<RedisServerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "islb-redis-"));
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...args], { stdio: "ignore" });
    child.on("error", () => {});
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
    url: `redis://127.0.0.1:${port}`,
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
