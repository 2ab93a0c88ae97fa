/**
 * The Redis store's node writes: register, heartbeat, deregister and the lease sweep, each one
 * Lua script (redis-scripts.ts) that checks the owner's token, changes the node and appends
 * the change to the stream atomically; the change is then applied to the view in order.
 */
import { encodeLoad, encodeRecord } from "./records.js";
import { heartbeatBatch, type LoadBeat } from "./redis-heartbeats.js";
import type { TurnBatch } from "./turn-batch.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeTail } from "./redis-tail.js";
import type { HeartbeatUpdate, NodeStore } from "./types.js";
import { NodeState, type ChangeType, type NodeRecord, type WriteResult } from "./model.js";

/** A record as the store keeps it (base64 of a NodeInfo message). */
export const b64 = (r: NodeRecord): string => Buffer.from(encodeRecord(r)).toString("base64");

/** Expired leases handled per sweep (the rest wait for the next, 250 ms later). */
const SWEEP_BATCH = 512;

export interface WriteOptions {
  /** Changes kept in the stream (approximately). */
  streamLength: number;
  /** How long a node's key outlives its lease, as a safety net. */
  keyGraceMs: number;
}

export class RedisNodeWrites implements NodeStore {
  private readonly beats: TurnBatch<LoadBeat, number>;

  constructor(
    private readonly conn: RedisConnection,
    private readonly k: RedisKeys,
    private readonly feed: ChangeTail,
    private readonly options: WriteOptions,
  ) {
    this.beats = heartbeatBatch(conn, k, options.streamLength, feed);
  }

  private nodeKeys(nid: string): string[] {
    return [this.k.node + nid, this.k.nodes, this.k.leases, this.k.events, this.k.rev];
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
    const [rev, existed] = await this.conn.guard(
      this.conn.cmd.islbUpsert(
        ...this.nodeKeys(nid),
        nid,
        token,
        b64(record),
        record.state,
        record.node.service,
        record.expiresAt,
        record.leaseMs + this.options.keyGraceMs,
        this.options.streamLength,
        now,
        now * 1000,
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
    await this.feed.applyOwn(type, rev, record);
    return { revision: rev, existed: existed === 1 };
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
    const known = this.feed.view.get(nid);
    if (known !== undefined && (update.state === undefined || update.state === known.state)) {
      // Only load and lease change (the registration a heartbeat carries is for a registry that
      // lost the node): only they are written, batched with this turn's others.
      const b64load = Buffer.from(encodeLoad(update.load)).toString("base64");
      const rev = await this.beats.send({
        nid,
        token,
        load: b64load,
        value: update.load,
        expiresAt: update.expiresAt,
        ttlMs: update.leaseMs + this.options.keyGraceMs,
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
    const [rev] = await this.conn.guard(
      this.conn.cmd.islbDeregister(...this.nodeKeys(nid), nid, token, this.options.streamLength, Date.now() * 1000),
    );
    if (rev === -1) return { revision: view.revision, refused: "token" };
    if (rev === -2) return { revision: view.revision, refused: "unknown" };
    if (r !== undefined) await this.feed.applyOwn("down", rev, r);
    return { revision: rev };
  }

  /** Expires lapsed leases (sessions expire by themselves: their keys have a TTL). */
  async sweep(now: number): Promise<void> {
    const due = await this.conn.guard(this.conn.cmd.zrangebyscore(this.k.leases, "-inf", now, "LIMIT", 0, SWEEP_BATCH));
    for (const nid of due) {
      const known = this.feed.view.get(nid);
      const [rev] = await this.conn.guard(
        this.conn.cmd.islbExpire(
          ...this.nodeKeys(nid),
          nid,
          now,
          this.options.streamLength,
          now * 1000,
          known === undefined ? "" : b64(known),
        ),
      );
      if (rev > 0 && known !== undefined) await this.feed.applyOwn("expired", rev, known);
    }
  }
}
