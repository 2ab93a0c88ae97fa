/**
 * The Redis store's connections: where they point, the command connection (with the store's
 * Lua scripts defined on it) and the second one the change tail blocks on, the key layout,
 * connection errors logged once per change of state, and commands that fail as
 * StoreUnavailableError instead of hanging. ioredis stays in the registry/redis-* files.
 */
import { Redis, Cluster, type RedisOptions } from "ioredis";
import { StoreUnavailableError } from "./errors.js";
import { DeadlineWheel } from "../transport/deadline-wheel.js";
import { DEREGISTER, EXPIRE, HEARTBEATS, PLACES, RELEASE, SNAPSHOT, UPSERT } from "./redis-scripts.js";
import { silentLogger, type Logger } from "../log.js";
import { ConnectionLog } from "./connection-log.js";
import { shardKeys, type RedisKeys } from "./redis-layout.js";

export type { RedisKeys };

/** Where the Redis store connects. */
export interface RedisConfig {
  /** host:port addresses: one is a single Redis, several a Cluster. */
  addrs: string[];
  password?: string;
  db: number;
  /** A redis:// URL (REDIS_URL); used instead of addrs when set. */
  url?: string;
  /** Sentinels (host:port) and the master's name: Redis behind Sentinel. */
  sentinels?: string[];
  masterName?: string;
  /** Key prefix (default "islb:"). */
  prefix: string;
  /**
   * Shards of the keyspace (redis-layout.ts): 1 keeps every key in one slot (the default for a
   * single Redis and Sentinel); more spread the services over as many slots, so a Cluster's
   * masters share the writes (the default for a Cluster: DEFAULT_CLUSTER_SHARDS).
   */
  shards?: number;
}

/** Shards of a Cluster when `shards` is not given. */
export const DEFAULT_CLUSTER_SHARDS = 6;

/** The shards a configuration asks for. */
export function shardsOf(cfg: RedisConfig): number {
  if (cfg.shards !== undefined) return cfg.shards;
  const cluster = cfg.url === undefined && (cfg.sentinels?.length ?? 0) === 0 && cfg.addrs.length > 1;
  return cluster ? DEFAULT_CLUSTER_SHARDS : 1;
}

/** How the connections behave. */
export interface ConnectionOptions {
  /** Where connection errors are logged: once per change of state, then with backoff while it lasts. */
  logger?: Logger;
  /** A command not answered within this long fails with StoreUnavailableError (default 1000 ms). */
  commandTimeoutMs?: number;
}

type Client = Redis | Cluster;

/** The store's scripts (redis-scripts.ts), as commands of the command connection. */
export interface Scripts {
  islbUpsert(...args: (string | number)[]): Promise<[number, number]>;
  islbDeregister(...args: (string | number)[]): Promise<[number]>;
  islbExpire(...args: (string | number)[]): Promise<[number]>;
  islbSnapshot(...args: (string | number)[]): Promise<string[]>;
  islbRelease(...args: (string | number)[]): Promise<number>;
  /** PLACES: the number of keys first. */
  islbPlaces(...args: (string | number)[]): Promise<Array<number | string>>;
  /** HEARTBEATS: the number of keys first. */
  islbHeartbeats(...args: (string | number)[]): Promise<number[]>;
}

export function redisKeys(prefix: string): RedisKeys {
  return shardKeys(prefix, "islb");
}

/** Where a Redis configuration points, for messages (no password). */
export function describeRedis(cfg: RedisConfig): string {
  if (cfg.url !== undefined) {
    try {
      const u = new URL(cfg.url);
      if (u.password !== "") u.password = "***";
      return u.toString();
    } catch {
      return "(an invalid URL)";
    }
  }
  if (cfg.sentinels !== undefined && cfg.sentinels.length > 0)
    return `sentinels ${cfg.sentinels.join(",")} (master ${cfg.masterName ?? "mymaster"})`;
  return cfg.addrs.join(",");
}

function client(cfg: RedisConfig): Client {
  // No auto-pipelining: the hot paths batch their own calls (TurnBatch), and ioredis runs one
  // auto-pipeline per slot at a time, so a batch queued behind another waited a round trip.
  const common: RedisOptions = {
    password: cfg.password,
    db: cfg.db,
    maxRetriesPerRequest: 2,
    enableAutoPipelining: false,
    lazyConnect: true,
  };
  if (cfg.url !== undefined) return new Redis(cfg.url, { ...common, db: undefined, password: undefined });
  const hostPort = (a: string) => {
    const i = a.lastIndexOf(":");
    return { host: i <= 0 ? "127.0.0.1" : a.slice(0, i), port: Number(i < 0 ? 6379 : a.slice(i + 1)) };
  };
  if (cfg.sentinels !== undefined && cfg.sentinels.length > 0) {
    return new Redis({ ...common, sentinels: cfg.sentinels.map(hostPort), name: cfg.masterName ?? "mymaster" });
  }
  if (cfg.addrs.length === 1) return new Redis({ ...hostPort(cfg.addrs[0] as string), ...common });
  return new Cluster(cfg.addrs.map(hostPort), {
    redisOptions: { password: cfg.password, maxRetriesPerRequest: 2 },
    enableAutoPipelining: false,
    lazyConnect: true,
  });
}

/** The two connections of a Redis store. */
export class RedisConnection {
  /** Commands and scripts. */
  readonly cmd: Client & Scripts;
  /** The change tail's blocking reads: one connection per shard (a blocked one serves no other read). */
  readonly tails: Client[];
  private readonly timeoutMs: number;
  private readonly timeouts = new DeadlineWheel();
  private readonly log: ConnectionLog;

  constructor(
    cfg: RedisConfig,
    readonly where: string,
    options: ConnectionOptions,
    shards = 1,
  ) {
    this.timeoutMs = options.commandTimeoutMs ?? 1000;
    this.log = new ConnectionLog(options.logger ?? silentLogger, "redis", where);
    const redis = client(cfg);
    redis.defineCommand("islbUpsert", { numberOfKeys: 5, lua: UPSERT });
    redis.defineCommand("islbDeregister", { numberOfKeys: 5, lua: DEREGISTER });
    redis.defineCommand("islbExpire", { numberOfKeys: 5, lua: EXPIRE });
    redis.defineCommand("islbSnapshot", { numberOfKeys: 2, lua: SNAPSHOT });
    redis.defineCommand("islbRelease", { numberOfKeys: 5, lua: RELEASE });
    redis.defineCommand("islbHeartbeats", { lua: HEARTBEATS });
    redis.defineCommand("islbPlaces", { lua: PLACES });
    redis.on("error", (e: unknown) => this.log.error(e));
    redis.on("ready", () => this.log.ready());
    this.cmd = redis as Client & Scripts;
    this.tails = [];
    for (let i = 0; i < shards; i++) {
      const t = redis.duplicate();
      t.on("error", (e: unknown) => this.log.error(e));
      this.tails.push(t);
    }
  }

  /** Runs `step` (part of the start) within `timeoutMs`; on failure disconnects and names the store. */
  async within<T>(timeoutMs: number, step: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        step(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      const last = this.log.last;
      const reason = last instanceof Error ? last.message : e instanceof Error ? e.message : String(e);
      this.disconnect();
      throw new StoreUnavailableError(`cannot reach the Redis store at ${this.where}: ${reason}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Notes an error of the tail (logged as connection errors are). */
  noteError(e: unknown): void {
    this.log.error(e);
  }

  /**
   * A command's answer, or StoreUnavailableError when Redis fails it or does not answer
   * within the command timeout (a stalled Redis must not hold callers).
   */
  guard<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // On the wheel: no Node timer per command while Redis answers in time.
      const timer = this.timeouts.arm(this.timeoutMs, () =>
        reject(
          new StoreUnavailableError(`the Redis store at ${this.where} did not answer within ${this.timeoutMs} ms`),
        ),
      );
      p.then(
        (v) => {
          timer.cleanup();
          resolve(v);
        },
        (e: unknown) => {
          timer.cleanup();
          reject(
            new StoreUnavailableError(
              `the Redis store at ${this.where} failed: ${e instanceof Error ? e.message : String(e)}`,
              { cause: e },
            ),
          );
        },
      );
    });
  }

  disconnect(): void {
    for (const t of this.tails) t.disconnect();
    this.cmd.disconnect();
  }

  /** Closes the tail at once and the command connection once its replies are in. */
  async close(): Promise<void> {
    for (const t of this.tails) t.disconnect();
    await this.cmd.quit().catch(() => undefined);
  }
}
