/**
 * The NATS KV store: islb's registry in JetStream Key-Value buckets on the NATS connection
 * islb already has, so a deployment needs no second system. Shared by several islb instances
 * like the Redis store: every instance keeps its view from a KV watch (reads never wait on
 * I/O), writes are revision-checked (create-if-absent, update of the revision read), and
 * leases lapse by revision-checked deletes that only one instance wins (no per-key TTL on
 * nats-server 2.9). Layout and guarantees: docs/KV.md. Made of: nats-kv-bucket.ts (buckets,
 * keys, values, errors), nats-kv-tail.ts (the view and change feed), nats-kv-writes.ts
 * (nodes), nats-kv-sessions.ts (placements, session changes), nats-kv-marks.ts (operators'
 * cordons and drains) and nats-kv-wait.ts (a write waiting for the watch).
 */
import type { NatsConnection } from "nats";
import { KvBuckets, type NatsKvConfig } from "./nats-kv-bucket.js";
import { KvSessions } from "./nats-kv-sessions.js";
import { KvSessionSets } from "./nats-kv-session-sets.js";
import { KvSessionExpiry } from "./nats-kv-session-expiry.js";
import { KvMarks } from "./nats-kv-marks.js";
import { KvTail } from "./nats-kv-tail.js";
import { KvNodeWrites } from "./nats-kv-writes.js";
import { StoreUnavailableError } from "./errors.js";
import type { HeartbeatUpdate, RegistryStore } from "./types.js";
import type {
  Adoption,
  MarkChange,
  NodeRecord,
  Placement,
  RegistryEvent,
  ReleaseResult,
  SessionChangeInput,
  SessionEventsMode,
  SessionHost,
  SessionSet,
  WriteResult,
} from "./model.js";
import type { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

export type { NatsKvConfig };

export interface NatsKvStoreOptions {
  /** A JetStream call not answered within this long fails with StoreUnavailableError (default 1000 ms). */
  commandTimeoutMs?: number;
  /** How long connecting at start may take (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Called when a watch fails (it is started again by itself). */
  onError?: (err: unknown) => void;
  /** Bounds of the changes the view keeps for resuming watchers. */
  history?: Partial<HistoryLimits>;
  /** Known session placements kept in memory to answer lookups without a round trip (default 100,000). */
  placementCache?: number;
  /** "all": announce new placements ("placed") and idle expiries ("expired", nats-kv-session-expiry.ts); default "moves": not. */
  sessionEvents?: SessionEventsMode;
}

export class NatsKvStore implements RegistryStore {
  private constructor(
    private readonly b: KvBuckets,
    private readonly feed: KvTail,
    private readonly nodes: KvNodeWrites,
    private readonly sessions: KvSessions,
    private readonly marks: KvMarks,
    private readonly sets: KvSessionSets = new KvSessionSets(b),
    /** Session events "all": new placements are announced. */
    private announcePlaced = false,
    /** Session events "all": idle expiries are announced. */
    private expiry?: KvSessionExpiry,
  ) {}

  /**
   * Binds (creating when missing) the buckets on `nc`, loads the current nodes and starts
   * watching. A NATS without JetStream, or one that does not answer within the connect
   * timeout, fails with StoreUnavailableError naming the bucket. `nc` stays the caller's.
   */
  static async connect(nc: NatsConnection, cfg: NatsKvConfig, options: NatsKvStoreOptions = {}): Promise<NatsKvStore> {
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    let feed: KvTail | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const start = async (): Promise<NatsKvStore> => {
        const b = await KvBuckets.open(nc, cfg, options.commandTimeoutMs ?? 1000);
        feed = new KvTail(b, options.history, options.onError);
        await feed.start();
        const store = new NatsKvStore(
          b,
          feed,
          new KvNodeWrites(b, feed),
          new KvSessions(b, feed, options.placementCache),
          new KvMarks(b, feed),
        );
        if (options.sessionEvents === "all") {
          store.announcePlaced = true;
          store.expiry = new KvSessionExpiry(b, feed, (c) => store.noteSession(c));
        }
        return store;
      };
      return await Promise.race([
        start(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      await feed?.stop();
      const m = e instanceof Error ? e.message : String(e);
      // nats.js says "503" (no responders) when the server runs no JetStream.
      const reason =
        m === "503" || /jetstream not enabled/i.test(m)
          ? "JetStream is not enabled on this NATS (nats-server -js, or a jetstream {} block in its configuration)"
          : m;
      throw new StoreUnavailableError(`cannot open the NATS KV store (bucket ${cfg.bucket}): ${reason}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
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
    if (!this.announcePlaced) return this.sessions.placeSession(service, sid, candidate, idleMs, onMoved);
    return this.placeAnnounced(service, sid, candidate, idleMs, onMoved);
  }

  /** Session events "all": a new placement is announced (one more write, not awaited by the lookup). */
  private async placeAnnounced(
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
    if (p?.placed === true && !moved)
      void this.noteSession({ type: "placed", service, sid, nid: p.nid, from: "", reason: "new" }).catch(
        () => undefined,
      );
    return p;
  }

  noteSession(change: SessionChangeInput): Promise<number> {
    return this.sessions.noteSession(change);
  }

  adoptSessions(service: string, nid: string, sids: readonly string[], idleMs: number): Promise<Adoption[]> {
    return this.sessions.adoptSessions(service, nid, sids, idleMs);
  }

  sessionNode(service: string, sid: string): Promise<string | undefined> {
    return this.sessions.sessionNode(service, sid);
  }

  async releaseSession(service: string, sid: string, host?: SessionHost): Promise<ReleaseResult> {
    const r = await this.sessions.releaseSession(service, sid, host);
    if (r === "released") await this.sets.drop(service, sid);
    return r;
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

  /** Resolves when the nodes bucket's stream answers (true) or fails (false); notices a wiped bucket. */
  ping(): Promise<boolean> {
    return this.feed.ping();
  }

  /** Stops the watches; the NATS connection is the caller's. */
  async close(): Promise<void> {
    this.expiry?.close();
    await this.feed.stop();
  }
}
