/**
 * The Redis store's node writes: register, heartbeat, deregister and the lease sweep, each one
 * Lua script (redis-scripts.ts) that checks the owner's token, changes the node and appends
 * the change to the stream atomically; the change is then applied to the view in order.
 */
import { encodeLoad, encodeRecord } from "./records.js";
import { heartbeatBatch, type LoadBeat } from "./redis-heartbeats.js";
import { rememberLoad } from "./redis-loads.js";
import type { TurnBatch } from "./turn-batch.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { RedisLayout } from "./redis-layout.js";
import type { ChangeTail } from "./redis-tail.js";
import type { HeartbeatUpdate, NodeStore } from "./types.js";
import { NodeState, type ChangeType, type NodeRecord, type WriteResult } from "./model.js";

/** Bytes as base64, read where they are (Buffer.from of a Uint8Array would copy them first). */
const base64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64");

/** A record as the store keeps it (base64 of a NodeInfo message). */
export const b64 = (r: NodeRecord): string => base64(encodeRecord(r));

/** Expired leases handled per sweep (the rest wait for the next, 250 ms later). */
const SWEEP_BATCH = 512;

export interface WriteOptions {
  /** Changes kept in the stream (approximately). */
  streamLength: number;
  /** How long a node's key outlives its lease, as a safety net. */
  keyGraceMs: number;
}

export class RedisNodeWrites implements NodeStore {
  /** Per shard: its load-only heartbeats, batched. */
  private readonly beats: Array<TurnBatch<LoadBeat, number>>;
  private readonly layout: RedisLayout;

  constructor(
    private readonly conn: RedisConnection,
    private readonly feed: ChangeTail,
    private readonly options: WriteOptions,
  ) {
    this.layout = feed.layout;
    this.beats = this.layout.shards.map((k, s) =>
      heartbeatBatch(conn, k, s, options.streamLength, options.keyGraceMs, feed),
    );
  }

  private nodeKeys(k: RedisKeys, nid: string): string[] {
    return [k.node + nid, k.nodes, k.leases, k.events, k.rev];
  }

  private async upsert(
    record: NodeRecord,
    token: string,
    mustExist: boolean,
  ): Promise<WriteResult & { existed: boolean }> {
    const view = this.feed.view;
    const now = Date.now();
    const nid = record.node.nid;
    const before = view.get(nid);
    const s = this.layout.of(record.node.service);
    // A node registered again under another service's shard leaves its old one first.
    if (before !== undefined && this.layout.of(before.node.service) !== s) await this.deregister(nid, token);
    const k = this.layout.shards[s] as RedisKeys;
    const [rev, existed] = await this.conn.guard(
      this.conn.cmd.islbUpsert(
        ...this.nodeKeys(k, nid),
        nid,
        token,
        b64(record),
        record.state,
        record.node.service,
        record.expiresAt,
        record.leaseMs + this.options.keyGraceMs,
        this.options.streamLength,
        now,
        this.feed.seed(now),
        mustExist ? "1" : "0",
      ),
    );
    if (rev === -1) return { revision: view.revision, refused: "token", existed: true };
    if (rev === -2) return { revision: view.revision, refused: "unknown", existed: false };
    const type: ChangeType =
      existed === 0
        ? "up"
        : record.state === NodeState.NODE_STATE_DRAINING && before?.state !== NodeState.NODE_STATE_DRAINING
          ? "draining"
          : "updated";
    return { revision: await this.feed.applyOwn(s, type, rev, record), existed: existed === 1 };
  }

  async register(record: NodeRecord, token: string): Promise<WriteResult> {
    const r = await this.upsert(record, token, false);
    return { revision: r.revision, refused: r.refused };
  }

  async heartbeat(
    nid: string,
    token: string,
    update: HeartbeatUpdate,
    record: NodeRecord | undefined,
  ): Promise<WriteResult> {
    const t = this.feed.view.table;
    const known = t.slotOf(nid);
    if (known !== undefined && (update.state === undefined || update.state === t.stateAt(known))) {
      // Only load and lease change (the registration a heartbeat carries is for a registry that
      // lost the node): only they are written, batched with this turn's others.
      const b64load = base64(encodeLoad(update.load));
      // This instance's tail reads the entry too (often before the answer): it need not decode it.
      rememberLoad(b64load, update.load);
      const batch = this.beats[this.layout.of(t.serviceAt(known))] as TurnBatch<LoadBeat, number>;
      const rev = await batch.send({
        nid,
        token,
        load: b64load,
        value: update.load,
        expiresAt: update.expiresAt,
        leaseMs: update.leaseMs,
      });
      // Applied to the view as the answer came (or, when other instances' changes come
      // before it, by the tail in order): a heartbeat's caller does not wait for that.
      if (rev > 0) return { revision: rev };
      if (rev === -1) return { revision: this.feed.view.revision, refused: "token" };
      // Redis does not know it, or its lease lapsed there: the whole write decides.
    }
    const base = this.feed.view.get(nid) ?? record;
    if (base === undefined) return { revision: this.feed.view.revision, refused: "unknown" };
    const next: NodeRecord = {
      ...base,
      load: update.load,
      state: update.state ?? base.state,
      expiresAt: update.expiresAt,
      leaseMs: update.leaseMs,
    };
    const r = await this.upsert(next, token, record === undefined);
    return { revision: r.revision, refused: r.refused, reregistered: r.refused === undefined && !r.existed };
  }

  async deregister(nid: string, token: string): Promise<WriteResult> {
    const view = this.feed.view;
    // Read before the write: the tail may apply the change before the script's reply arrives.
    const r = view.get(nid);
    // The node's shard, by its service; a node this view does not have may be in any.
    const shards = r !== undefined ? [this.layout.of(r.node.service)] : this.layout.shards.map((_, i) => i);
    let refused: "token" | "unknown" = "unknown";
    for (const s of shards) {
      const k = this.layout.shards[s] as RedisKeys;
      const [rev] = await this.conn.guard(
        this.conn.cmd.islbDeregister(
          ...this.nodeKeys(k, nid),
          nid,
          token,
          this.options.streamLength,
          this.feed.seed(Date.now()),
        ),
      );
      if (rev === -1) refused = "token";
      if (rev < 0) continue;
      if (r !== undefined) return { revision: await this.feed.applyOwn(s, "down", rev, r) };
      return { revision: this.layout.shards.length === 1 ? rev : view.revision };
    }
    return { revision: view.revision, refused };
  }

  /** Expires lapsed leases (sessions expire by themselves: their keys have a TTL), in every shard. */
  async sweep(now: number): Promise<void> {
    for (let s = 0; s < this.layout.shards.length; s++) {
      const k = this.layout.shards[s] as RedisKeys;
      const due = await this.conn.guard(this.conn.cmd.zrangebyscore(k.leases, "-inf", now, "LIMIT", 0, SWEEP_BATCH));
      for (const nid of due) {
        const known = this.feed.view.get(nid);
        const [rev] = await this.conn.guard(
          this.conn.cmd.islbExpire(
            ...this.nodeKeys(k, nid),
            nid,
            now,
            this.options.streamLength,
            this.feed.seed(now),
            known === undefined ? "" : b64(known),
          ),
        );
        if (rev > 0 && known !== undefined) await this.feed.applyOwn(s, "expired", rev, known);
      }
    }
  }
}
