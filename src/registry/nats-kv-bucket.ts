/**
 * The NATS KV store's buckets: where they are (two JetStream KV buckets on the connection islb
 * already has: `<bucket>` for nodes, `<bucket>_sessions` for placements), how keys and values
 * are encoded, revision-checked writes (a DEL marker may carry a value: the record it ends),
 * and errors: a lost race is a `Conflict`, anything else a StoreUnavailableError naming the
 * bucket. Layout: docs/KV.md. nats.js's JetStream API stays in the registry/nats-kv* files.
 */
import { createHash } from "node:crypto";
import {
  headers,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type KvEntry,
  type KvOptions,
  type NatsConnection,
  type NatsError,
} from "nats";
import { StoreUnavailableError } from "./errors.js";
import { decodeRecord, encodeRecord } from "./records.js";
import { decodeMark, encodeMark } from "./marks.js";
import type { ChangeType, MarkChange, MarkNote, NodeMark, NodeRecord } from "./model.js";

/** Where the NATS KV store keeps its data. */
export interface NatsKvConfig {
  /** The nodes bucket's name; sessions go to `<bucket>_sessions` (default "islb"). */
  bucket: string;
  /** Replicas of each bucket's stream when islb creates it (1, 3 or 5; default 1). */
  replicas: number;
}

/** How long a message stays in a bucket without being rewritten: a safety net (leases are ≤ 5 min, sessions renewed). */
export const BUCKET_MAX_AGE_MS = 24 * 3600_000;

/** The server's error code for "wrong last sequence": a revision-checked write lost a race. */
const WRONG_LAST_SEQUENCE = 10071;

/** A revision-checked write found the key at another revision than expected. */
export class Conflict extends Error {
  override readonly name = "Conflict";
}

/** Key of a node or session part: base64url (KV keys allow only [-/_=.a-zA-Z0-9]). */
export const keyPart = (s: string): string => Buffer.from(s, "utf8").toString("base64url") || "_";
/** The key of a node in the nodes bucket. */
export const nodeKey = (nid: string): string => `n.${keyPart(nid)}`;
/** The key of a node's operator's mark (cordon, drain) in the nodes bucket: apart from the node's own writes. */
export const markKey = (nid: string): string => `m.${keyPart(nid)}`;
/** The node id of a mark key. */
export const nidOfMarkKey = (key: string): string => Buffer.from(key.slice(2), "base64url").toString("utf8");
/** The key of the session changes (moves, releases) in the nodes bucket: each write is one change, in the bucket's sequence. */
export const SESSION_EVENTS_KEY = "e";
/** The key of a session in the sessions bucket. */
export const sessionKey = (service: string, sid: string): string => `${keyPart(service)}.${keyPart(sid)}`;

/** What the store keeps of an owner token: its SHA-256, so reading the bucket grants nothing. */
export const tokenHash = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

const CODES: readonly ChangeType[] = ["up", "updated", "draining", "down", "expired"];

/**
 * A node entry's value: the change that wrote it, the owner's token hash, the registration it
 * belongs to and the record. `gen` is the sequence the registration's first write expected (0,
 * or the DEL marker of the node's previous registration): the same for every write of one
 * registration, another for the next, so a mark names the registration it was set on.
 */
export interface NodeValue {
  readonly type: ChangeType;
  readonly token: Buffer;
  readonly gen: number;
  readonly record: NodeRecord;
}

const HEAD = 1 + 32 + 8;

export function encodeNode(type: ChangeType, token: Buffer, gen: number, record: NodeRecord): Uint8Array {
  const rec = encodeRecord(record);
  const out = Buffer.alloc(HEAD + rec.length);
  out[0] = CODES.indexOf(type);
  out.set(token, 1);
  out.writeDoubleBE(gen, 33);
  out.set(rec, HEAD);
  return out;
}

export function decodeNode(bytes: Uint8Array): NodeValue {
  const type = CODES[bytes[0] ?? 255];
  if (type === undefined || bytes.length < HEAD) throw new Error("not an islb node entry");
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    type,
    token: Buffer.from(bytes.subarray(1, 33)),
    gen: b.readDoubleBE(33),
    record: decodeRecord(bytes.subarray(HEAD)),
  };
}

/** A mark entry's value: the registration it was set on (`gen`), the change and its note, the mark (undefined: cleared). */
export interface MarkValue {
  readonly gen: number;
  readonly type: MarkChange["type"];
  readonly note: MarkNote;
  readonly mark: NodeMark | undefined;
}

const MARK_TYPES = new Set<string>(["cordoned", "uncordoned", "draining", "drained"]);

export const encodeMarkValue = (v: MarkValue): Uint8Array =>
  Buffer.from(
    JSON.stringify({ g: v.gen, t: v.type, by: v.note.by, why: v.note.reason, mk: encodeMark(v.mark) }),
    "utf8",
  );

/** A mark entry's value, or undefined when it is not one. */
export function decodeMarkValue(bytes: Uint8Array): MarkValue | undefined {
  try {
    const o = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>;
    if (typeof o.g !== "number" || typeof o.t !== "string" || !MARK_TYPES.has(o.t)) return undefined;
    const str = (v: unknown): string => (typeof v === "string" ? v : "");
    return {
      gen: o.g,
      type: o.t as MarkChange["type"],
      note: { by: str(o.by), reason: str(o.why) },
      mark: decodeMark(str(o.mk)),
    };
  } catch {
    return undefined;
  }
}

/** A session entry's value: when it lapses unless renewed (ms) and its node. */
export interface SessionValue {
  readonly until: number;
  readonly nid: string;
}

export const encodeSession = (v: SessionValue): Uint8Array => Buffer.from(`${v.until} ${v.nid}`, "utf8");

export function decodeSession(bytes: Uint8Array): SessionValue | undefined {
  const s = Buffer.from(bytes).toString("utf8");
  const i = s.indexOf(" ");
  const until = Number(s.slice(0, i));
  return i > 0 && Number.isFinite(until) ? { until, nid: s.slice(i + 1) } : undefined;
}

/** History 1, the safety-net age; reads go to the stream leader (no direct gets from replicas that may lag). */
function bucketOptions(cfg: NatsKvConfig, timeoutMs: number): Partial<KvOptions> {
  return { history: 1, replicas: cfg.replicas, ttl: BUCKET_MAX_AGE_MS, allow_direct: false, timeout: timeoutMs };
}

/** The two buckets of one store, and revision-checked writes to them. */
export class KvBuckets {
  private constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly nodes: KV,
    readonly sessions: KV,
    readonly cfg: NatsKvConfig,
    private readonly timeoutMs: number,
  ) {}

  /** Binds the buckets, creating them (R`replicas`, history 1) when missing. */
  static async open(nc: NatsConnection, cfg: NatsKvConfig, timeoutMs: number): Promise<KvBuckets> {
    const js = nc.jetstream({ timeout: timeoutMs });
    const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
    const opts = bucketOptions(cfg, timeoutMs);
    const nodes = await js.views.kv(cfg.bucket, opts);
    const sessions = await js.views.kv(`${cfg.bucket}_sessions`, opts);
    return new KvBuckets(js, jsm, nodes, sessions, cfg, timeoutMs);
  }

  /** The sessions bucket's name. */
  get sessionsBucket(): string {
    return `${this.cfg.bucket}_sessions`;
  }

  /** The bucket names, for messages. */
  get where(): string {
    return `KV bucket ${this.cfg.bucket}`;
  }

  /**
   * The base of this store's revisions (the nodes bucket's creation time in µs) and its last
   * sequence. A revision is base + the KV sequence, so a bucket deleted and created again
   * numbers above the old one (unless it took more than a million writes a second).
   */
  async info(): Promise<{ base: number; lastSeq: number }> {
    try {
      const info = await this.jsm.streams.info(`KV_${this.cfg.bucket}`);
      this.ok();
      return { base: Date.parse(info.created) * 1000, lastSeq: info.state.last_seq };
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** Creates the buckets again if they are gone (deleted by hand: a wiped store). */
  async ensure(): Promise<void> {
    const opts = bucketOptions(this.cfg, this.timeoutMs);
    await this.js.views.kv(this.cfg.bucket, opts);
    await this.js.views.kv(this.sessionsBucket, opts);
  }

  /**
   * Writes `data` to `key` if the key's last revision is `expected` (0: the key holds nothing;
   * undefined: whatever it holds);
   * `del`: as a DEL marker (the key reads as deleted; the value stays on the marker). Returns
   * the new revision; throws Conflict when the key moved on, StoreUnavailableError otherwise.
   */
  async write(
    bucket: string,
    key: string,
    data: Uint8Array,
    expected: number | undefined,
    del = false,
  ): Promise<number> {
    const h = headers();
    if (expected !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(expected));
    if (del) h.set("KV-Operation", "DEL");
    try {
      const ack = await this.js.publish(`$KV.${bucket}.${key}`, data, { headers: h, timeout: this.timeoutMs });
      this.ok();
      return ack.seq;
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** The entry of `key`, or null (nothing, or a DEL marker: then its value is the marker's). */
  async get(kv: KV, key: string): Promise<KvEntry | null> {
    try {
      const e = await kv.get(key);
      this.ok();
      return e;
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** Called when a call fails other than by a lost race (the tail checks whether the buckets are gone). */
  onFailure: (() => void) | undefined;
  private lastFailureAt = -Infinity;
  private failingSince: number | undefined;
  private recoveredAt = 0;

  /** Notes a call the buckets answered (ends an outage). */
  ok(): void {
    if (this.failingSince === undefined) return;
    this.failingSince = undefined;
    this.recoveredAt = Date.now();
  }

  /**
   * Until when a lease ending at `expiresAt` holds: a lease during which the buckets failed
   * (a JetStream leader lost, say: heartbeats could not be written) is not lost to it; it
   * holds until one full lease after the buckets answer again.
   */
  leaseHolds(expiresAt: number, leaseMs: number): number {
    if (this.lastFailureAt < expiresAt - leaseMs) return expiresAt;
    if (this.failingSince !== undefined) return Infinity;
    return Math.max(expiresAt, this.recoveredAt + leaseMs);
  }

  /** A lost race as Conflict; anything else as StoreUnavailableError naming the bucket. */
  failure(e: unknown): Error {
    if ((e as NatsError).api_error?.err_code === WRONG_LAST_SEQUENCE) return new Conflict("the key changed");
    if (e instanceof StoreUnavailableError || e instanceof Conflict) return e;
    this.lastFailureAt = Date.now();
    this.failingSince ??= this.lastFailureAt;
    this.onFailure?.();
    return new StoreUnavailableError(`the NATS ${this.where} failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
