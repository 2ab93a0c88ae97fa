/**
 * The NATS KV store's node writes: register, heartbeat, deregister and the lease sweep, each a
 * revision-checked write of the node's key (it must still be at the revision this instance
 * read), so two writers never both win: the loser reads the key again and decides again.
 * Deregistrations and expiries write a DEL marker that carries the record it ends. Leases
 * lapse without per-key TTLs (nats-server 2.9 has none): every instance sweeps the leases of
 * its view and deletes each lapsed one with the revision it saw; only one delete succeeds, so
 * only one instance reports the expiry. A lease during which the buckets failed is not lost to
 * that: it holds until a full lease after they answer again (KvBuckets.leaseHolds).
 */
import { Conflict, decodeNode, encodeNode, nodeKey, tokenHash, type KvBuckets } from "./nats-kv-bucket.js";
import type { KvTail, NodeEntry } from "./nats-kv-tail.js";
import { StoreUnavailableError } from "./errors.js";
import type { HeartbeatUpdate, NodeStore } from "./types.js";
import { NodeState, type ChangeType, type NodeRecord, type WriteResult } from "./model.js";

/** Writes tried per call when other instances keep changing the key. */
const ATTEMPTS = 4;
/** Lapsed leases deleted at once by a sweep. */
const SWEEP_PARALLEL = 64;

/** A key's state: the sequence a write must expect (0: nothing) and the node, when there is one. */
interface KeyState {
  seq: number;
  entry: NodeEntry | undefined;
  /** Read from the bucket just now (not from this instance's view). */
  fresh: boolean;
}

export class KvNodeWrites implements NodeStore {
  constructor(
    private readonly b: KvBuckets,
    private readonly feed: KvTail,
  ) {}

  private local(nid: string): KeyState | undefined {
    const e = this.feed.entry(nid);
    return e === undefined ? undefined : { seq: e.seq, entry: e, fresh: false };
  }

  private async read(nid: string): Promise<KeyState> {
    const e = await this.b.get(this.b.nodes, nodeKey(nid));
    if (e === null) {
      this.feed.forget(nid);
      return { seq: 0, entry: undefined, fresh: true };
    }
    if (e.value.length === 0) return { seq: e.revision, entry: undefined, fresh: true };
    const v = decodeNode(e.value);
    const entry: NodeEntry = {
      seq: e.revision,
      token: v.token,
      gen: v.gen,
      record: v.record,
      live: e.operation === "PUT",
    };
    this.feed.note(nid, entry);
    return { seq: e.revision, entry, fresh: true };
  }

  private put(
    type: ChangeType,
    token: Buffer,
    gen: number,
    record: NodeRecord,
    expected: number,
    del: boolean,
  ): Promise<number> {
    return this.b.write(
      this.b.cfg.bucket,
      nodeKey(record.node.nid),
      encodeNode(type, token, gen, record),
      expected,
      del,
    );
  }

  private async upsert(
    record: NodeRecord,
    token: string,
    mustExist: boolean,
  ): Promise<WriteResult & { existed: boolean }> {
    const nid = record.node.nid;
    const th = tokenHash(token);
    let cur = this.local(nid);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      cur ??= await this.read(nid);
      const e = cur.entry;
      try {
        if (e?.live === true) {
          if (this.b.leaseHolds(e.record.expiresAt, e.record.leaseMs) <= Date.now()) {
            // The lease lapsed before this write: end it first (reported like a sweep's).
            const seq = await this.put("expired", e.token, e.gen, e.record, cur.seq, true);
            const dead: NodeEntry = { ...e, seq, live: false };
            await this.feed.applyOwn("expired", seq, dead);
            cur = { seq, entry: dead, fresh: true };
            continue;
          }
          if (!e.token.equals(th)) {
            if (!cur.fresh) {
              cur = undefined;
              continue;
            }
            return { revision: this.feed.view.revision, refused: "token", existed: true };
          }
          const type: ChangeType =
            record.state === NodeState.NODE_STATE_DRAINING && e.record.state !== NodeState.NODE_STATE_DRAINING
              ? "draining"
              : "updated";
          const seq = await this.put(type, th, e.gen, record, cur.seq, false);
          await this.feed.applyOwn(type, seq, { seq, token: th, gen: e.gen, record, live: true });
          return { revision: this.feed.revisionOf(seq), existed: true };
        }
        if (mustExist) {
          if (!cur.fresh) {
            cur = undefined;
            continue;
          }
          return { revision: this.feed.view.revision, refused: "unknown", existed: false };
        }
        // A new registration: named by the sequence its first write expects (see NodeValue.gen).
        const seq = await this.put("up", th, cur.seq, record, cur.seq, false);
        await this.feed.applyOwn("up", seq, { seq, token: th, gen: cur.seq, record, live: true });
        return { revision: this.feed.revisionOf(seq), existed: false };
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
        cur = undefined;
      }
    }
    throw new StoreUnavailableError(`the NATS ${this.b.where}: node ${nid} kept changing under ${ATTEMPTS} writes`);
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
    const base = this.feed.view.get(nid) ?? record;
    if (base === undefined) {
      // Not in this view: maybe registered through another instance a moment ago.
      const cur = await this.read(nid);
      if (cur.entry?.live !== true) return { revision: this.feed.view.revision, refused: "unknown" };
      return this.heartbeat(nid, token, update, cur.entry.record);
    }
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
    const th = tokenHash(token);
    let cur = this.local(nid);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      cur ??= await this.read(nid);
      const e = cur.entry;
      const refusal = e?.live !== true ? "unknown" : !e.token.equals(th) ? "token" : undefined;
      if (refusal !== undefined || e === undefined) {
        if (!cur.fresh) {
          cur = undefined;
          continue;
        }
        return { revision: this.feed.view.revision, refused: refusal ?? "unknown" };
      }
      try {
        const seq = await this.put("down", e.token, e.gen, e.record, cur.seq, true);
        await this.feed.applyOwn("down", seq, { ...e, seq, live: false });
        return { revision: this.feed.revisionOf(seq) };
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
        cur = undefined;
      }
    }
    throw new StoreUnavailableError(`the NATS ${this.b.where}: node ${nid} kept changing under ${ATTEMPTS} writes`);
  }

  /**
   * Deletes the leases of this view that ended by `now`, each with the revision this instance
   * saw: when another instance expired it first, or the node renewed it, the delete fails and
   * the watch brings what happened instead.
   */
  async sweep(now: number): Promise<void> {
    const due: NodeEntry[] = [];
    for (const nid of this.feed.leases.due(now)) {
      const e = this.feed.entry(nid);
      if (e?.live !== true) continue;
      const holds = this.b.leaseHolds(e.record.expiresAt, e.record.leaseMs);
      if (holds > now) this.feed.leases.set(nid, Number.isFinite(holds) ? holds : now + 1);
      else due.push(e);
    }
    let failed: unknown;
    for (let i = 0; i < due.length; i += SWEEP_PARALLEL) {
      await Promise.all(
        due.slice(i, i + SWEEP_PARALLEL).map(async (e) => {
          try {
            const seq = await this.put("expired", e.token, e.gen, e.record, e.seq, true);
            await this.feed.applyOwn("expired", seq, { ...e, seq, live: false });
          } catch (err) {
            if (err instanceof Conflict) return;
            // Not reached: try again at the next sweep.
            this.feed.leases.set(e.record.node.nid, e.record.expiresAt);
            failed = err;
          }
        }),
      );
    }
    if (failed !== undefined) throw failed;
  }
}
