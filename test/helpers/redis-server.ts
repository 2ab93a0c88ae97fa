/** Starts a real redis-server on a free loopback port for a test; stops only that process. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, killOnExit, spawnServer, waitForPort } from "./nats-server.js";

export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  /** The process id of the running redis-server. */
  readonly pid: number;
  /** Stops (SIGSTOP) and continues (SIGCONT) the process: a Redis that stalls, connections open. */
  pause(): void;
  resume(): void;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(args: string[] = []): Promise<RedisServerProcess> {
  const port = await freePort();
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  const p = await spawnServer(
    bin,
    port,
    (dir) => ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...args],
    "islb-redis-",
  );
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return p.pid;
    },
    pause: () => process.kill(p.pid, "SIGSTOP"),
    resume: () => process.kill(p.pid, "SIGCONT"),
    kill: p.kill,
    restart: p.restart,
    stop: async () => {
      try {
        if (p.pid > 0) process.kill(p.pid, "SIGCONT");
      } catch {
        /* already gone */
      }
      await p.stop();
    },
  };
}

/** A Redis Cluster of three masters (each a redis-server this test started), created with redis-cli. */
export async function startRedisCluster(): Promise<{ addrs: string[]; pids: number[]; stop(): Promise<void> }> {
  const { execFile } = await import("node:child_process");
  const nodes: RedisServerProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const busPort = await freePort();
    nodes.push(
      await startRedisServer([
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${busPort}.conf`,
        "--cluster-port",
        String(busPort),
        "--cluster-node-timeout",
        "2000",
      ]),
    );
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.env.REDIS_CLI_BIN ?? "redis-cli",
      ["--cluster", "create", ...addrs, "--cluster-replicas", "0", "--cluster-yes"],
      (e) => (e ? reject(e) : resolve()),
    ),
  );
  // Wait until every node agrees the cluster is up.
  for (const a of addrs) {
    for (let i = 0; i < 100; i++) {
      const out = await new Promise<string>((resolve) =>
        execFile("redis-cli", ["-p", a.split(":")[1] as string, "cluster", "info"], (_e, so) => resolve(String(so))),
      );
      if (out.includes("cluster_state:ok")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    addrs,
    pids: nodes.map((n) => n.pid),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

/** A master and one Sentinel watching it, as "mymaster". */
export async function startRedisSentinel(): Promise<{
  sentinels: string[];
  masterName: string;
  stop(): Promise<void>;
}> {
  const { writeFileSync } = await import("node:fs");
  const master = await startRedisServer();
  const dir = mkdtempSync(join(tmpdir(), "islb-sentinel-"));
  const port = await freePort();
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds mymaster 2000\n`,
  );
  const child = spawn(process.env.REDIS_SERVER_BIN ?? "redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  child.on("error", () => {});
  killOnExit(child);
  await waitForPort(port);
  return {
    sentinels: [`127.0.0.1:${port}`],
    masterName: "mymaster",
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
      await master.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
