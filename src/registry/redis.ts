/**
 * The Redis store, shared by several islb instances. Every write is one Lua script (see
 * redis-scripts.ts) that also appends the change to a stream; each instance tails the stream
 * to keep its in-memory view, so lookups never wait on Redis except to place a session, and
 * that is a single atomic script. Single Redis, Sentinel and Cluster: every key in one slot
 * (hash tag {islb}), or spread over shards, each its own slot (redis-layout.ts; a Cluster's
 * default), a service's keys in one. Key layout: docs/REDIS.md. Made of: redis-connection.ts (connections,
 * keys, errors), redis-tail.ts (the view and change feed), redis-writes.ts (nodes),
 * redis-sessions.ts (placements) and redis-marks.ts (operators' cordons and drains).
 */
import {
  describeRedis,
  RedisConnection,
  shardsOf,
  type ConnectionOptions,
  type RedisConfig,
  type RedisKeys,
} from "./redis-connection.js";
import { redisLayout } from "./redis-layout.js";
import { RedisSessions } from "./redis-sessions.js";
import { ChangeTail } from "./redis-tail.js";
import { RedisNodeWrites } from "./redis-writes.js";
import { RedisMarks } from "./redis-marks.js";
import { noteSession } from "./redis-session-events.js";
import { RedisSessionSets } from "./redis-session-sets.js";
import { RedisSessionExpiry } from "./redis-session-expiry.js";
import type { HeartbeatUpdate, RegistryStore } from "./types.js";
import type {
  Adoption,
  MarkChange,
  NodeRecord,
  Placement,
  SessionChangeInput,
  SessionEventsMode,
  SessionSet,
  RegistryEvent,
  ReleaseResult,
  SessionHost,
  WriteResult,
} from "./model.js";
import type { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

export { describeRedis, type RedisConfig };

export interface RedisStoreOptions extends ConnectionOptions {
  /** Changes kept in the stream (approximately; default 100,000). */
  streamLength?: number;
  /** How long a node's key outlives its lease, as a safety net (default 60 s). */
  keyGraceMs?: number;
  /** Called when the tail of the change stream fails (it retries by itself). */
  onError?: (err: unknown) => void;
  /** How long connecting at start may take (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Bounds of the changes the view keeps for resuming watchers. */
  history?: Partial<HistoryLimits>;
  /** Known session placements kept in memory to answer lookups without a round trip (default 100,000). */
  placementCache?: number;
  /** "all": announce new placements and idle expiries (redis-session-expiry.ts); default "moves": not. */
  sessionEvents?: SessionEventsMode;
}

export class RedisStore implements RegistryStore {
  private constructor(
    private readonly conn: RedisConnection,
    private readonly feed: ChangeTail,
    private readonly nodes: RedisNodeWrites,
    private readonly sessions: RedisSessions,
    private readonly marks: RedisMarks,
    private readonly streamLength: number,
    private readonly sets: RedisSessionSets = new RedisSessionSets(
      conn,
      (service) => feed.layout.shards[feed.layout.of(service)] as RedisKeys,
    ),
    /** Set with session events "all". */
    private expiry?: RedisSessionExpiry,
  ) {}

  /**
   * Connects, loads the current nodes, and starts tailing the change stream. A Redis that
   * cannot be reached fails with StoreUnavailableError naming its address (and nothing keeps
   * trying in the background).
   */
  static async connect(cfg: RedisConfig, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const layout = redisLayout(cfg.prefix, shardsOf(cfg));
    const conn = new RedisConnection(cfg, describeRedis(cfg), options, layout.shards.length);
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    const feed = new ChangeTail(conn, layout, options.history, options.onError);
    await conn.within(timeoutMs, async () => {
      await conn.cmd.connect();
      await Promise.all(conn.tails.map((t) => t.connect()));
      await feed.load();
    });
    feed.start();
    const nodes = new RedisNodeWrites(conn, feed, {
      streamLength: options.streamLength ?? 100_000,
      keyGraceMs: options.keyGraceMs ?? 60_000,
    });
    const marks = new RedisMarks(conn, feed, options.streamLength ?? 100_000);
    const store = new RedisStore(
      conn,
      feed,
      nodes,
      new RedisSessions(conn, feed, options.placementCache),
      marks,
      options.streamLength ?? 100_000,
    );
    if (options.sessionEvents === "all")
      store.expiry = new RedisSessionExpiry(conn, feed, options.streamLength ?? 100_000);
    return store;
  }

  get view(): RegistryView {
    return this.feed.view;
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    return this.feed.onLocalChange(listener);
  }

  register(record: NodeRecord, token: string): Promise<WriteResult> {
    return this.nodes.register(record, token);
  }

  heartbeat(nid: string, token: string, update: HeartbeatUpdate, record: NodeRecord | undefined): Promise<WriteResult> {
    return this.nodes.heartbeat(nid, token, update, record);
  }

  deregister(nid: string, token: string): Promise<WriteResult> {
    return this.nodes.deregister(nid, token);
  }

  async sweep(now: number): Promise<void> {
    await this.nodes.sweep(now);
    await this.expiry?.sweep(now);
  }

  async noteSession(change: SessionChangeInput): Promise<number> {
    const layout = this.feed.layout;
    const s = layout.of(change.service);
    const rev = await noteSession(
      this.conn,
      layout.shards[s] as RedisKeys,
      this.streamLength,
      this.feed.seed(Date.now()),
      change,
    );
    return this.feed.applyOwnSession(s, rev, change);
  }

  /** How many shards the keyspace is spread over (redis-layout.ts). */
  get shards(): number {
    return this.feed.layout.shards.length;
  }

  markNode(nid: string, change: MarkChange): Promise<WriteResult> {
    return this.marks.markNode(nid, change);
  }

  placeSession(
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    const expiry = this.expiry;
    if (expiry === undefined) return this.sessions.placeSession(service, sid, candidate, idleMs, onMoved);
    return this.placeTracked(expiry, service, sid, candidate, idleMs, onMoved);
  }

  /** Session events "all": a placement made here is tracked for its expiry, and a new one announced (batched, after the lookup's answer). */
  private async placeTracked(
    expiry: RedisSessionExpiry,
    service: string,
    sid: string,
    candidate: () => string | undefined,
    idleMs: number,
    onMoved?: (from: string) => void,
  ): Promise<Placement | undefined> {
    let moved = false;
    const p = await this.sessions.placeSession(service, sid, candidate, idleMs, (from) => {
      moved = true;
      onMoved?.(from);
    });
    if (p?.placed === true) void expiry.track(service, sid, p.nid, idleMs, !moved).catch(() => undefined);
    return p;
  }

  async adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]> {
    const out = await this.sessions.adoptSessions(service, nid, sids, idleMs);
    const expiry = this.expiry;
    if (expiry !== undefined)
      for (const a of out)
        if (a.outcome === "adopted" || a.outcome === "moved")
          void expiry.track(service, a.sid, a.nid, idleMs, false).catch(() => undefined);
    return out;
  }

  sessionNode(service: string, sid: string): Promise<string | undefined> {
    return this.sessions.sessionNode(service, sid);
  }

  /** Releases the session with its node set and idle tracking, in one script (RELEASE). */
  releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    return this.sessions.releaseSession(service, sid, host);
  }

  sessionSet(service: string, sid: string, idleMs: number): Promise<SessionSet | undefined> {
    return this.sets.sessionSet(service, sid, idleMs);
  }

  writeSessionSet(
    service: string,
    sid: string,
    nodes: readonly string[],
    ifRevision: number,
    idleMs: number,
  ): Promise<SessionSet | undefined> {
    return this.sets.writeSessionSet(service, sid, nodes, ifRevision, idleMs);
  }

  /** Resolves when Redis answers (true) or fails (false); a stalled Redis answers late: the health probe times it. */
  async ping(): Promise<boolean> {
    try {
      return (await this.conn.cmd.ping()) === "PONG";
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.feed.stop();
    await this.conn.close();
  }
}
