/**
 * Load-only heartbeats to the Redis store, batched: the heartbeats that arrive in one turn of
 * the event loop go to Redis as one HEARTBEATS script call (redis-scripts.ts), which writes
 * only each node's load and lease and appends a compact load entry per node to the stream.
 */
import type { RedisConnection, RedisKeys } from "./redis-connection.js";

/** Nodes per script call at most (a larger batch is split). */
const MAX_BATCH = 256;

/** One node's load-only heartbeat, as the script takes it. */
export interface LoadBeat {
  readonly nid: string;
  readonly token: string;
  /** base64 of an islb.Load message. */
  readonly load: string;
  readonly expiresAt: number;
  /** How long the node's key lives (its lease and a grace). */
  readonly ttlMs: number;
  readonly leaseMs: number;
}

interface Pending {
  readonly beat: LoadBeat;
  resolve(code: number): void;
  reject(err: unknown): void;
}

export class HeartbeatBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly conn: RedisConnection,
    private readonly k: RedisKeys,
    private readonly streamLength: number,
  ) {}

  /** Sends `beat` with the others of this turn; resolves to its revision, or -1, -2, -3 (see HEARTBEATS). */
  send(beat: LoadBeat): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ beat, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) this.call(all.slice(i, i + MAX_BATCH));
  };

  private call(batch: Pending[]): void {
    const now = Date.now();
    const keys: string[] = [this.k.leases, this.k.events, this.k.rev];
    const args: (string | number)[] = [this.streamLength, now, now * 1000];
    for (const { beat: b } of batch) {
      keys.push(this.k.node + b.nid);
      args.push(b.nid, b.token, b.load, b.expiresAt, b.ttlMs, b.leaseMs);
    }
    this.conn.guard(this.conn.cmd.islbHeartbeats(keys.length, ...keys, ...args)).then(
      (codes) => {
        for (let i = 0; i < batch.length; i++) (batch[i] as Pending).resolve(Number(codes[i] ?? -2));
      },
      (e: unknown) => {
        for (const p of batch) p.reject(e);
      },
    );
  }
}
