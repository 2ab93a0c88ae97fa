/**
 * The Redis store, shared by several islb instances. Every write is one Lua script (see
 * redis-scripts.ts) that also appends the change to a stream; each instance tails the stream
 * to keep its in-memory view, so lookups never wait on Redis except to place a session, and
 * that is a single atomic script. Single Redis, Sentinel and Cluster (every key shares the
 * hash tag {islb}). Key layout: docs/REDIS.md.
 */
import { Redis, Cluster, type RedisOptions } from "ioredis";
import { decodeRecord, encodeRecord } from "./records.js";
import { DEREGISTER, EXPIRE, PLACE, RELEASE, SNAPSHOT, UPSERT } from "./redis-scripts.js";
import { NodeState, type ChangeType, type Load, type NodeRecord, type Placement, type RegistryEvent, type RegistryStore, type ReleaseResult, type SessionHost, type WriteResult } from "./types.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";
import { StoreUnavailableError } from "./errors.js";
import { silentLogger, type Logger } from "../log.js";

type Client = Redis | Cluster;

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
}

interface Scripts {
  islbUpsert(...args: (string | number)[]): Promise<[number, number]>;
  islbDeregister(...args: (string | number)[]): Promise<[number]>;
  islbExpire(...args: (string | number)[]): Promise<[number]>;
  islbPlace(...args: (string | number)[]): Promise<[number, string]>;
  islbSnapshot(...args: (string | number)[]): Promise<string[]>;
  islbRelease(...args: (string | number)[]): Promise<number>;
}

export interface RedisStoreOptions {
  /** Changes kept in the stream (approximately; default 100,000). */
  streamLength?: number;
  /** How long a node's key outlives its lease, as a safety net (default 60 s). */
  keyGraceMs?: number;
  /** Called when the tail of the change stream fails (it retries by itself). */
  onError?: (err: unknown) => void;
  /** Where connection errors are logged: once per change of state, then with backoff while it lasts. */
  logger?: Logger;
  /** A command not answered within this long fails with StoreUnavailableError (default 1000 ms). */
  commandTimeoutMs?: number;
  /** How long connecting at start may take (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Bounds of the changes the view keeps for resuming watchers. */
  history?: Partial<HistoryLimits>;
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
  if (cfg.sentinels !== undefined && cfg.sentinels.length > 0) return `sentinels ${cfg.sentinels.join(",")} (master ${cfg.masterName ?? "mymaster"})`;
  return cfg.addrs.join(",");
}

/** First reminder while Redis stays unreachable, and the longest gap between reminders. */
const REMIND_FIRST_MS = 5000;
const REMIND_MAX_MS = 300_000;

/** Logs a connection's errors once per change of state, then with doubling gaps while it lasts. */
class ConnectionLog {
  private down = false;
  private nextAt = 0;
  private gap = REMIND_FIRST_MS;
  private suppressed = 0;
  last: unknown;

  constructor(
    private readonly log: Logger,
    private readonly where: string,
  ) {}

  error(err: unknown): void {
    this.last = err;
    const now = Date.now();
    const message = err instanceof Error ? err.message : String(err);
    if (!this.down) {
      this.down = true;
      this.nextAt = now + this.gap;
      this.log.warn({ store: "redis", at: this.where, err: message }, "redis store unreachable");
      return;
    }
    if (now < this.nextAt) {
      this.suppressed++;
      return;
    }
    this.log.warn({ store: "redis", at: this.where, err: message, repeated: this.suppressed }, "redis store still unreachable");
    this.suppressed = 0;
    this.gap = Math.min(REMIND_MAX_MS, this.gap * 2);
    this.nextAt = now + this.gap;
  }

  ready(): void {
    if (!this.down) return;
    this.down = false;
    this.gap = REMIND_FIRST_MS;
    this.suppressed = 0;
    this.log.info({ store: "redis", at: this.where }, "redis store reachable again");
  }
}

const TYPES = new Set<ChangeType>(["up", "updated", "draining", "down", "expired"]);
const b64 = (r: NodeRecord): string => Buffer.from(encodeRecord(r)).toString("base64");
const unb64 = (s: string): NodeRecord => decodeRecord(new Uint8Array(Buffer.from(s, "base64")));

function connectClient(cfg: RedisConfig): Client {
  const common: RedisOptions = { password: cfg.password, db: cfg.db, maxRetriesPerRequest: 2, enableAutoPipelining: true, lazyConnect: true };
  if (cfg.url !== undefined) return new Redis(cfg.url, { ...common, db: undefined, password: undefined, maxRetriesPerRequest: 2, enableAutoPipelining: true, lazyConnect: true });
  const hostPort = (a: string) => {
    const i = a.lastIndexOf(":");
    return { host: i <= 0 ? "127.0.0.1" : a.slice(0, i), port: Number(i < 0 ? 6379 : a.slice(i + 1)) };
  };
  if (cfg.sentinels !== undefined && cfg.sentinels.length > 0) {
    return new Redis({ ...common, sentinels: cfg.sentinels.map(hostPort), name: cfg.masterName ?? "mymaster" });
  }
  if (cfg.addrs.length === 1) return new Redis({ ...hostPort(cfg.addrs[0] as string), ...common });
  return new Cluster(cfg.addrs.map(hostPort), { redisOptions: { password: cfg.password, maxRetriesPerRequest: 2 }, enableAutoPipelining: true, lazyConnect: true });
}

export class RedisStore implements RegistryStore {
  readonly view: RegistryView;
  private readonly k: { rev: string; nodes: string; leases: string; events: string; node: string; session: string };
  private readonly cmd: Client & Scripts;
  private readonly tail: Client;
  private closed = false;
  private tailing: Promise<void> | undefined;
  private readonly maxlen: number;
  private readonly local = new Set<(e: RegistryEvent) => void>();
  private readonly graceMs: number;
  private readonly timeoutMs: number;

  private constructor(
    private readonly redis: Client,
    prefix: string,
    private readonly options: RedisStoreOptions,
    private readonly where: string,
    private readonly conn: ConnectionLog,
  ) {
    this.view = new RegistryView(options.history);
    this.timeoutMs = options.commandTimeoutMs ?? 1000;
    const tag = `${prefix}{islb}:`;
    this.k = { rev: `${tag}rev`, nodes: `${tag}nodes`, leases: `${tag}leases`, events: `${tag}events`, node: `${tag}node:`, session: `${tag}s:` };
    this.maxlen = options.streamLength ?? 100_000;
    this.graceMs = options.keyGraceMs ?? 60_000;
    redis.defineCommand("islbUpsert", { numberOfKeys: 5, lua: UPSERT });
    redis.defineCommand("islbDeregister", { numberOfKeys: 5, lua: DEREGISTER });
    redis.defineCommand("islbExpire", { numberOfKeys: 5, lua: EXPIRE });
    redis.defineCommand("islbPlace", { numberOfKeys: 2, lua: PLACE });
    redis.defineCommand("islbSnapshot", { numberOfKeys: 2, lua: SNAPSHOT });
    redis.defineCommand("islbRelease", { numberOfKeys: 1, lua: RELEASE });
    this.cmd = redis as Client & Scripts;
    this.tail = redis.duplicate();
    this.tail.on("error", (e: unknown) => conn.error(e));
  }

  /**
   * Connects, loads the current nodes, and starts tailing the change stream. A Redis that
   * cannot be reached fails with StoreUnavailableError naming its address (and nothing keeps
   * trying in the background).
   */
  static async connect(cfg: RedisConfig, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const where = describeRedis(cfg);
    const conn = new ConnectionLog(options.logger ?? silentLogger, where);
    const redis = connectClient(cfg);
    redis.on("error", (e: unknown) => conn.error(e));
    redis.on("ready", () => conn.ready());
    let store: RedisStore | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([redis.connect(), timeout]);
      store = new RedisStore(redis, cfg.prefix, options, where, conn);
      await Promise.race([store.tail.connect(), timeout]);
      await Promise.race([store.load(), timeout]);
    } catch (e) {
      const reason = conn.last instanceof Error ? conn.last.message : e instanceof Error ? e.message : String(e);
      store?.tail.disconnect();
      redis.disconnect();
      throw new StoreUnavailableError(`cannot reach the Redis store at ${where}: ${reason}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    store.tailing = store.tailLoop();
    return store;
  }

  /**
   * A command's answer, or StoreUnavailableError when Redis fails it or does not answer
   * within the command timeout (a stalled Redis must not hold callers).
   */
  private async guard<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StoreUnavailableError(`the Redis store at ${this.where} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      throw new StoreUnavailableError(`the Redis store at ${this.where} failed: ${message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  private nodeKeys(nid: string): string[] {
    return [this.k.node + nid, this.k.nodes, this.k.leases, this.k.events, this.k.rev];
  }

  /** Reads every node (start-up, or after a gap in the stream). */
  private async load(): Promise<void> {
    const [rev, ...recs] = await this.cmd.islbSnapshot(this.k.nodes, this.k.rev, this.k.node, Date.now() * 1000);
    const records: NodeRecord[] = [];
    for (const r of recs) {
      try {
        records.push(unb64(r));
      } catch (e) {
        this.options.onError?.(e);
      }
    }
    this.view.resync(Number(rev), records);
  }

  private async tailLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const res = (await this.tail.xread("COUNT", 1000, "BLOCK", 1000, "STREAMS", this.k.events, `${this.view.revision}-0`)) as Array<[string, Array<[string, string[]]>]> | null;
        if (res === null) continue;
        for (const [, entries] of res) {
          for (const [id, fields] of entries) {
            const rev = Number(id.slice(0, id.indexOf("-")));
            if (this.isGap(rev)) {
              // Changes are missing (the stream was trimmed or wiped): start again from a snapshot.
              await this.load();
              break;
            }
            this.applyEntry(rev, fields);
          }
        }
      } catch (e) {
        if (this.closed) return;
        this.conn.error(e);
        this.options.onError?.(e);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private applyEntry(rev: number, fields: string[]): void {
    let type: string | undefined;
    let rec: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "t") type = fields[i + 1];
      else if (fields[i] === "r") rec = fields[i + 1];
    }
    if (type === undefined || rec === undefined || !TYPES.has(type as ChangeType)) return;
    // Our own writes were applied when their scripts answered: not decoded a second time.
    if (rev <= this.view.revision) return;
    this.view.apply({ type: type as ChangeType, revision: rev, record: unb64(rec) });
  }

  /** True when changes before `rev` are missing from the view. */
  private isGap(rev: number): boolean {
    return rev > this.view.revision + 1;
  }

  /**
   * Applies our own write at once when it is the next change; otherwise waits (briefly) for
   * the tail to bring the changes before it, in order. Either way the write's caller then
   * reads its own write from the view.
   */
  private async applyOwn(type: ChangeType, rev: number, record: NodeRecord): Promise<void> {
    const event = { type, revision: rev, record };
    await this.reachOwn(event);
    for (const l of this.local) l(event);
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  private async reachOwn(event: RegistryEvent): Promise<void> {
    const rev = event.revision;
    if (!this.isGap(rev)) {
      this.view.apply(event);
      return;
    }
    if (this.view.revision >= rev) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 1000);
      const check = (): void => {
        if (this.view.revision >= rev) done();
      };
      const stop = this.view.subscribe(check);
      const stopResync = this.view.onResync(check);
      function done(): void {
        clearTimeout(timer);
        stop();
        stopResync();
        resolve();
      }
    });
  }

  private async upsert(record: NodeRecord, token: string, mustExist: boolean): Promise<WriteResult & { existed: boolean }> {
    const now = Date.now();
    const nid = record.node.nid;
    const before = this.view.get(nid);
    const [rev, existed] = await this.guard(this.cmd.islbUpsert(
      ...this.nodeKeys(nid),
      nid,
      token,
      b64(record),
      record.state,
      record.node.service,
      record.expiresAt,
      record.leaseMs + this.graceMs,
      this.maxlen,
      now,
      now * 1000,
      mustExist ? "1" : "0",
    ));
    if (rev === -1) return { revision: this.view.revision, refused: "token", existed: true };
    if (rev === -2) return { revision: this.view.revision, refused: "unknown", existed: false };
    const type: ChangeType = existed === 0 ? "up" : record.state === NodeState.NODE_STATE_DRAINING && before?.state !== NodeState.NODE_STATE_DRAINING ? "draining" : "updated";
    await this.applyOwn(type, rev, record);
    return { revision: rev, existed: existed === 1 };
  }

  async register(record: NodeRecord, token: string): Promise<WriteResult> {
    const r = await this.upsert(record, token, false);
    return { revision: r.revision, refused: r.refused };
  }

  async heartbeat(nid: string, token: string, update: { load: Load; state: NodeState | undefined; expiresAt: number; leaseMs: number }, record: NodeRecord | undefined): Promise<WriteResult> {
    const base = this.view.get(nid) ?? record;
    if (base === undefined) return { revision: this.view.revision, refused: "unknown" };
    const next: NodeRecord = { ...base, load: update.load, state: update.state ?? base.state, expiresAt: update.expiresAt, leaseMs: update.leaseMs };
    const r = await this.upsert(next, token, record === undefined);
    return { revision: r.revision, refused: r.refused, reregistered: r.refused === undefined && !r.existed };
  }

  async deregister(nid: string, token: string): Promise<WriteResult> {
    // Read before the write: the tail may apply the change before the script's reply arrives.
    const r = this.view.get(nid);
    const [rev] = await this.guard(this.cmd.islbDeregister(...this.nodeKeys(nid), nid, token, this.maxlen, Date.now() * 1000));
    if (rev === -1) return { revision: this.view.revision, refused: "token" };
    if (rev === -2) return { revision: this.view.revision, refused: "unknown" };
    if (r !== undefined) await this.applyOwn("down", rev, r);
    return { revision: rev };
  }

  private sessionKey(service: string, sid: string): string {
    return `${this.k.session}${service}.${sid}`;
  }

  async placeSession(service: string, sid: string, candidate: () => string | undefined, idleMs: number): Promise<Placement | undefined> {
    const key = this.sessionKey(service, sid);
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 4; attempt++) {
      let cand = candidate();
      if (cand !== undefined && tried.has(cand)) cand = undefined;
      const [code, nid] = await this.guard(this.cmd.islbPlace(key, this.k.node + (cand ?? ""), this.k.node, cand ?? "", idleMs, Date.now(), service));
      if (code === 0) return { nid, placed: false };
      if (code === 1) return { nid, placed: true };
      if (code === -1) return undefined;
      // -2: our view is behind Redis about the candidate; try another.
      if (cand !== undefined) tried.add(cand);
    }
    return undefined;
  }

  async sessionNode(service: string, sid: string): Promise<string | undefined> {
    return (await this.guard(this.redis.get(this.sessionKey(service, sid)))) ?? undefined;
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const r = await this.guard(this.cmd.islbRelease(this.sessionKey(service, sid), this.k.node, host?.nid ?? "", host?.token ?? ""));
    return r === 1 ? "released" : r === 0 ? "none" : "refused";
  }

  async sweep(now: number): Promise<void> {
    const due = await this.guard(this.redis.zrangebyscore(this.k.leases, "-inf", now, "LIMIT", 0, 512));
    for (const nid of due) {
      const known = this.view.get(nid);
      const [rev] = await this.guard(this.cmd.islbExpire(...this.nodeKeys(nid), nid, now, this.maxlen, now * 1000, known === undefined ? "" : b64(known)));
      if (rev > 0 && known !== undefined) await this.applyOwn("expired", rev, known);
    }
  }

  /** Resolves when Redis answers (true) or fails (false); a stalled Redis answers late: the health probe times it. */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === "PONG";
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tail.disconnect();
    await this.tailing;
    await this.redis.quit().catch(() => undefined);
  }
}
