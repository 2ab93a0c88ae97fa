/**
 * The NATS KV store's idle expiries of session placements, announced ("expired") only with
 * session events "all". A placement's entry says until when it holds; nothing removes it when
 * that passes. Each instance indexes, by deadline, the session entries its sessions watch
 * brings (every instance's writes, from its start on) and about once a second checks the due
 * ones: an entry still past its deadline is deleted by a revision-checked DEL marker, and the
 * instance whose delete succeeded (only one can) announces it. An entry renewed meanwhile is
 * put back at its new deadline.
 */
import { Conflict, decodeSession, encodeSession, type KvBuckets } from "./nats-kv-bucket.js";
import type { KvTail } from "./nats-kv-tail.js";
import { ExpiryBuckets } from "./leases.js";
import type { SessionChangeInput } from "./model.js";

/** How often the due entries are checked. */
const SWEEP_EVERY_MS = 1000;

/** Due entries checked per sweep (the rest wait for the next). */
const SWEEP_BATCH = 500;

interface Indexed {
  until: number;
  bucket: number;
}

const part = (s: string): string => Buffer.from(s, "base64url").toString("utf8");

export class KvSessionExpiry {
  private readonly index = new Map<string, Indexed>();
  private readonly buckets = new ExpiryBuckets(1000);
  private lastSweep = 0;
  private readonly stop: () => void;

  constructor(
    private readonly b: KvBuckets,
    feed: KvTail,
    private readonly note: (change: SessionChangeInput) => Promise<number>,
  ) {
    this.stop = feed.onSessionChange((key, e) => {
      const v = e.operation === "PUT" ? decodeSession(e.value) : undefined;
      if (v === undefined) {
        this.index.delete(key);
        return;
      }
      const cur = this.index.get(key);
      if (cur === undefined) this.index.set(key, { until: v.until, bucket: this.buckets.add(key, v.until) });
      else {
        cur.until = v.until;
        // An earlier deadline, or one whose bucket was already swept (a lost delete): indexed again.
        if (this.buckets.bucketOf(v.until) < cur.bucket || cur.bucket <= this.buckets.lastDue(Date.now()))
          cur.bucket = this.buckets.add(key, v.until);
      }
    });
  }

  async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const last = this.buckets.lastDue(now);
    const checks: string[] = [];
    for (const key of this.buckets.due(now)) {
      const c = this.index.get(key);
      if (c === undefined || c.bucket > last) continue;
      if (c.until > now) c.bucket = this.buckets.add(key, c.until);
      else if (checks.length < SWEEP_BATCH) checks.push(key);
      // Beyond the batch: checked at the next sweep.
      else c.bucket = this.buckets.add(key, now + SWEEP_EVERY_MS);
    }
    for (const key of checks) await this.expire(key, now);
  }

  /** Deletes the entry of `key` when it is still past its deadline; announces it when this delete won. */
  private async expire(key: string, now: number): Promise<void> {
    const e = await this.b.get(this.b.sessions, key);
    const cur = e?.operation === "PUT" ? decodeSession(e.value) : undefined;
    if (e === null || cur === undefined) {
      this.index.delete(key);
      return;
    }
    const c = this.index.get(key);
    if (cur.until > now) {
      if (c !== undefined) {
        c.until = cur.until;
        c.bucket = this.buckets.add(key, cur.until);
      }
      return;
    }
    try {
      await this.b.write(this.b.sessionsBucket, key, encodeSession(cur), e.revision, true);
    } catch (err) {
      if (err instanceof Conflict) return;
      throw err;
    }
    this.index.delete(key);
    const dot = key.indexOf(".");
    await this.note({
      type: "expired",
      service: part(key.slice(0, dot)),
      sid: part(key.slice(dot + 1)),
      nid: "",
      from: cur.nid,
      reason: "idle",
    });
  }

  close(): void {
    this.stop();
  }
}
