/**
 * The Redis store's change feed: the instance's view, loaded from a snapshot and kept current
 * by tailing the change stream (XREAD BLOCK on the second connection), with this instance's
 * own writes applied as their scripts answer, in revision order. A gap in the stream (trimmed
 * or wiped) reloads the snapshot. The same read tails the session-change stream (releases and
 * re-placements), for whoever answers known sessions from memory.
 *
 * With several shards (redis-layout.ts) each shard has its own stream and revision counter,
 * tailed on its own connection: the view's revision is the sum of the shards' revisions it has
 * applied (with one shard: the store's revision itself), so it grows by one with each change,
 * and two instances that applied the same changes are at the same revision.
 */
import { beaten, decodeRecord } from "./records.js";
import { loadOf } from "./redis-loads.js";
import type { RedisConnection } from "./redis-connection.js";
import type { RedisLayout } from "./redis-layout.js";
import type { ChangeFeed } from "./types.js";
import type { RedisKeys } from "./redis-connection.js";
import type { ChangeType, Load, MarkNote, NodeRecord, RegistryEvent, SessionEvent } from "./model.js";
import { decodeMark } from "./marks.js";
import { readMarks } from "./redis-mark-scripts.js";
import { parseSessionEvent } from "./redis-session-events.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

const TYPES = new Set<ChangeType>([
  "up",
  "updated",
  "draining",
  "down",
  "expired",
  "cordoned",
  "uncordoned",
  "drained",
]);

/** How many nodes a HEARTBEATS entry's body names (four words each), without splitting it. */
function loadCount(body: string): number {
  let spaces = 0;
  for (let i = body.indexOf(" "); i >= 0; i = body.indexOf(" ", i + 1)) spaces++;
  return Math.floor((spaces + 1) / 4);
}

/** A record as the store keeps it (base64 of a NodeInfo message). */
export const unb64 = (s: string): NodeRecord => decodeRecord(new Uint8Array(Buffer.from(s, "base64")));

/**
 * True when load-only heartbeats wrote a load, lease end and lease (base64 of an islb.Load
 * message, ms, ms) since a node's record: `lms` is there only then. An empty `load` is a load
 * of all zeros (protobuf writes no field of it), not a missing one: an idle node's lease is
 * renewed like any other.
 */
const wroteLoad = (load: string | undefined, lms: string | undefined): load is string =>
  lms !== undefined && lms !== "" && load !== undefined;

/** A heartbeat's lease, or undefined for none (0): the record's stays. */
const leaseOf = (ms: number): number | undefined => (ms > 0 ? ms : undefined);

/** `r` with the load, lease end and lease that load-only heartbeats wrote since it, when they did (see wroteLoad). */
export function withLoad(
  r: NodeRecord,
  load: string | undefined,
  exp: string | undefined,
  lms: string | undefined,
): NodeRecord {
  if (!wroteLoad(load, lms)) return r;
  return beaten(r, loadOf(load), r.state, Number(exp), leaseOf(Number(lms)) ?? r.leaseMs);
}

/** How long a write waits for the tail to bring the changes before its own. */
const REACH_OWN_MS = 1000;

/** Own load-only heartbeats the tail is to report to local listeners, at most (beyond: not reported). */
const MAX_PENDING_OWN = 100_000;

/** This instance's own load-only heartbeat, as applied to its view. */
export interface OwnLoad {
  readonly nid: string;
  readonly value: Load;
  readonly expiresAt: number;
  readonly leaseMs: number;
}

export class ChangeTail implements ChangeFeed {
  readonly view: RegistryView;
  private readonly local = new Set<(e: RegistryEvent) => void>();
  private closed = false;
  private tailing: Promise<void>[] = [];
  /** Per shard: the last session-change entry read (from the stream's end at the first load). */
  private readonly sessionsFrom: Array<string | undefined>;
  private readonly sessionListeners = new Set<(key: string) => void>();
  /** Per shard: revisions of own load-only heartbeats written behind others' changes: the tail tells local listeners. */
  private readonly ownPending: Array<Set<number>>;
  /**
   * Per shard: the stream bodies of this instance's HEARTBEATS calls still out, with their
   * beats. The script appends the body as sent only when it wrote every beat, at consecutive
   * revisions, so the tail that reads such an entry before the call's answer (it often does)
   * applies it from the beats' decoded loads instead of splitting and decoding the body.
   */
  private readonly ownBodies: Array<Map<string, ReadonlyArray<OwnLoad>>>;
  /** Per shard: the store revision the view has applied up to. */
  private readonly pos: number[];
  /** The sum of `pos`: the view's revision once the changes up to them are applied. */
  private sum = 0;
  /** A reload under way: the shards' loops wait for it. */
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly conn: RedisConnection,
    readonly layout: RedisLayout,
    history: Partial<HistoryLimits> | undefined,
    private readonly onError: ((err: unknown) => void) | undefined,
  ) {
    this.view = new RegistryView(history);
    const n = layout.shards.length;
    this.sessionsFrom = new Array<string | undefined>(n).fill(undefined);
    this.ownPending = Array.from({ length: n }, () => new Set<number>());
    this.ownBodies = Array.from({ length: n }, () => new Map<string, ReadonlyArray<OwnLoad>>());
    this.pos = new Array<number>(n).fill(0);
  }

  /**
   * What a shard's revision counter starts from when it has none: the time in µs (with several
   * shards, divided among them, so that their sum, the view's revision, is about the time), so
   * revisions only grow, even after the store is wiped.
   */
  seed(nowMs: number): number {
    const n = this.layout.shards.length;
    return n === 1 ? nowMs * 1000 : Math.floor((nowMs * 1000) / n);
  }

  /** Reads every node (start-up, or after a gap in a stream); the shards' loops wait for it. */
  async load(): Promise<void> {
    while (this.reloading !== undefined) await this.reloading;
    const p = this.loadAll();
    this.reloading = p;
    try {
      await p;
    } finally {
      this.reloading = undefined;
    }
  }

  private async loadAll(): Promise<void> {
    const records: NodeRecord[] = [];
    const revs: number[] = [];
    for (let s = 0; s < this.layout.shards.length; s++) {
      const k = this.layout.shards[s] as RedisKeys;
      if (this.sessionsFrom[s] === undefined) {
        const last = (await this.conn.cmd.xrevrange(k.sessionChanges, "+", "-", "COUNT", 1)) as Array<
          [string, string[]]
        >;
        this.sessionsFrom[s] = last[0]?.[0] ?? "0-0";
      }
      const [rev, ...recs] = await this.conn.cmd.islbSnapshot(k.nodes, k.rev, k.node, this.seed(Date.now()));
      // Read just after the snapshot: the changes the tail replays from its revision set any mark changed between the two.
      const marks = await readMarks(this.conn, k);
      // Four per node: the record, and the load, lease end and lease written since it.
      for (let i = 0; i + 3 < recs.length; i += 4) {
        try {
          const rec = withLoad(unb64(recs[i] as string), recs[i + 1], recs[i + 2], recs[i + 3]);
          const mark = marks.get(rec.node.nid);
          records.push(mark === undefined ? rec : { ...rec, mark });
        } catch (e) {
          this.onError?.(e);
        }
      }
      revs.push(Number(rev));
    }
    let sum = 0;
    for (let s = 0; s < revs.length; s++) {
      this.pos[s] = revs[s] as number;
      sum += revs[s] as number;
      this.ownPending[s]?.clear();
    }
    this.sum = sum;
    this.view.resync(sum, records);
  }

  /** Starts tailing the streams from the view's revisions. */
  start(): void {
    this.tailing = this.layout.shards.map((_, s) => this.loop(s));
  }

  /**
   * The view's revision of the change at store revision `rev` of shard `s`, which the shard
   * moves to: the sum of the shards' revisions (with one shard, `rev` itself). An entry passed
   * over moves its shard too, and the next change applied carries the sum.
   */
  private advance(s: number, rev: number): number {
    this.sum += rev - (this.pos[s] as number);
    this.pos[s] = rev;
    return this.sum;
  }

  private async loop(s: number): Promise<void> {
    const k = this.layout.shards[s] as RedisKeys;
    const tail = this.conn.tails[s] as RedisConnection["cmd"];
    while (!this.closed) {
      try {
        while (this.reloading !== undefined) await this.reloading;
        const res = (await tail.xread(
          "COUNT",
          1000,
          "BLOCK",
          1000,
          "STREAMS",
          k.events,
          k.sessionChanges,
          `${this.pos[s]}-0`,
          this.sessionsFrom[s] ?? "$",
        )) as Array<[string, Array<[string, string[]]>]> | null;
        if (res === null) continue;
        // Read at the end of the turn: a script's answer that came with the entry (its own, most
        // often) is answered first, and the next read goes after its callers' replies.
        await new Promise<void>((r) => setImmediate(r));
        while (this.reloading !== undefined) await this.reloading;
        for (const [stream, entries] of res) {
          if (stream === k.sessionChanges) {
            this.sessionChanges(s, entries);
            continue;
          }
          for (const [id, fields] of entries) {
            const rev = Number(id.slice(0, id.indexOf("-")));
            if (this.isGap(s, rev)) {
              // Changes are missing (the stream was trimmed or wiped): start again from a snapshot.
              await this.load();
              break;
            }
            if (!this.applyEntry(s, rev, fields)) {
              // A load entry of a node the view does not have: the view missed a change.
              await this.load();
              break;
            }
          }
        }
      } catch (e) {
        if (this.closed) return;
        this.conn.noteError(e);
        this.onError?.(e);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private sessionChanges(s: number, entries: Array<[string, string[]]>): void {
    for (const [id, fields] of entries) {
      this.sessionsFrom[s] = id;
      const i = fields.indexOf("k");
      const key = i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
      if (key !== undefined) for (const l of this.sessionListeners) l(key);
    }
  }

  /** Calls `listener` with the key of each session released or placed anew (by any instance). */
  onSessionChange(listener: (key: string) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  /** Applies one stream entry; false when it is a load entry of a node the view does not have. */
  private applyEntry(s: number, rev: number, fields: string[]): boolean {
    // Our own writes were applied when their scripts answered: not decoded a second time.
    if (rev <= (this.pos[s] as number)) return true;
    let type: string | undefined;
    let rec: string | undefined;
    let nid: string | undefined;
    let load: string | undefined;
    let exp: string | undefined;
    let lms: string | undefined;
    let mark: string | undefined;
    let by: string | undefined;
    let why = "";
    let session: string | undefined;
    let body: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const v = fields[i + 1];
      switch (fields[i]) {
        case "t":
          type = v;
          break;
        case "r":
          rec = v;
          break;
        case "n":
          nid = v;
          break;
        case "l":
          load = v;
          break;
        case "x":
          exp = v;
          break;
        case "m":
          lms = v;
          break;
        case "mk":
          mark = v;
          break;
        case "by":
          by = v;
          break;
        case "why":
          why = v ?? "";
          break;
        case "s":
          session = v;
          break;
        case "b":
          body = v;
          break;
      }
    }
    // A session change (redis-session-events.ts): the next revision, for session watchers only.
    if (type === "loads") return body === undefined ? this.skip(s, rev) : this.applyLoads(s, rev, body);
    if (type === "session") {
      const e = session === undefined ? undefined : parseSessionEvent(this.advance(s, rev), session);
      if (e !== undefined) this.view.applySession(e);
      return true;
    }
    if (type === "load") {
      const record = nid === undefined ? undefined : this.beaten(nid, load, exp, lms);
      if (record === undefined) return false;
      this.view.apply({ type: "updated", revision: this.advance(s, rev), record });
      return true;
    }
    if (type === undefined || rec === undefined || !TYPES.has(type as ChangeType)) return this.skip(s, rev);
    const record = withLoad(unb64(rec), load, exp, lms);
    const revision = this.advance(s, rev);
    // A mark change (redis-mark-scripts.ts) carries the mark and who and why.
    if (by !== undefined)
      this.view.apply({
        type: type as ChangeType,
        revision,
        record: { ...record, mark: decodeMark(mark) },
        note: { by, reason: why },
      });
    else this.view.apply({ type: type as ChangeType, revision, record });
    return true;
  }

  /**
   * An entry this version does not read: its revision is passed over (the view's next change
   * jumps it, as with one shard it always did).
   */
  private skip(s: number, rev: number): true {
    this.advance(s, rev);
    return true;
  }

  /**
   * A HEARTBEATS entry: four words per node (nid, load or "-" for an empty one, lease end,
   * lease), at revisions `first`, `first + 1`, ... False when a node is not in the view.
   */
  private applyLoads(s: number, first: number, body: string): boolean {
    if (first <= (this.pos[s] as number) && first + loadCount(body) - 1 <= (this.pos[s] as number)) {
      // This instance's own batch, applied as its answer came: nothing to split or look up.
      return true;
    }
    const mine = first === (this.pos[s] as number) + 1 ? this.ownBodies[s]?.get(body) : undefined;
    if (mine !== undefined) return this.applyMine(s, first, mine);
    const w = body.split(" ");
    const own = this.ownPending[s] as Set<number>;
    for (let i = 0, rev = first; i + 3 < w.length; i += 4, rev++) {
      if (rev <= (this.pos[s] as number)) continue;
      const l = w[i + 1] as string;
      const record = this.beaten(w[i] as string, l === "-" ? "" : l, w[i + 2], w[i + 3]);
      if (record === undefined) return false;
      const event: RegistryEvent = { type: "updated", revision: this.advance(s, rev), record };
      this.view.apply(event);
      if (own.size > 0 && own.delete(rev)) for (const l of this.local) l(event);
    }
    return true;
  }

  /** True when changes of shard `s` before `rev` are missing from the view. */
  private isGap(s: number, rev: number): boolean {
    return rev > (this.pos[s] as number) + 1;
  }

  /**
   * This instance's own HEARTBEATS entry, read before the call's answer: every beat written, at
   * `first`, `first + 1`, ...; applied as the tail applies anyone's (a node not in the view:
   * false), from the loads the beats carry. Local listeners hear of them with the answer
   * (applyOwnLoads finds them applied).
   */
  private applyMine(s: number, first: number, beats: ReadonlyArray<OwnLoad>): boolean {
    for (let i = 0; i < beats.length; i++) {
      const record = this.afterBeat(beats[i] as OwnLoad);
      if (record === undefined) return false;
      this.view.apply({ type: "updated", revision: this.advance(s, first + i), record });
    }
    return true;
  }

  /**
   * Registers the stream body of a HEARTBEATS call about to go to shard `s` with its beats (see
   * `ownBodies`); returns how to forget it once the call has answered.
   */
  expectOwnLoads(s: number, body: string, beats: ReadonlyArray<OwnLoad>): () => void {
    const bodies = this.ownBodies[s] as Map<string, ReadonlyArray<OwnLoad>>;
    bodies.set(body, beats);
    return () => {
      if (bodies.get(body) === beats) bodies.delete(body);
    };
  }

  /**
   * Node `nid`'s record in the view with what load-only heartbeats wrote (`withLoad` of its
   * record), made from the view's columns without making its current record first; undefined
   * when the view has no such node.
   */
  private beaten(
    nid: string,
    load: string | undefined,
    exp: string | undefined,
    lms: string | undefined,
  ): NodeRecord | undefined {
    if (!wroteLoad(load, lms)) return this.view.get(nid);
    return this.view.beaten(nid, loadOf(load), undefined, Number(exp), leaseOf(Number(lms)));
  }

  /** Node `b.nid`'s record after this instance's own beat `b` (made from the view's columns); undefined when the view has no such node. */
  private afterBeat(b: OwnLoad): NodeRecord | undefined {
    return this.view.beaten(b.nid, b.value, undefined, b.expiresAt, leaseOf(b.leaseMs));
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  /**
   * Applies this instance's own write (store revision `rev` of shard `s`) at once when it is
   * the next change; otherwise waits (briefly) for the tail to bring the changes before it, in
   * order. Either way the write's caller then reads its own write from the view; local
   * listeners hear of it. Resolves with the view's revision of it (with one shard: `rev`).
   */
  async applyOwn(s: number, type: ChangeType, rev: number, record: NodeRecord, note?: MarkNote): Promise<number> {
    let revision: number;
    if (rev === (this.pos[s] as number) + 1 && this.reloading === undefined) {
      revision = this.advance(s, rev);
      const event: RegistryEvent = note === undefined ? { type, revision, record } : { type, revision, record, note };
      this.view.apply(event);
      for (const l of this.local) l(event);
      return revision;
    }
    if (rev > (this.pos[s] as number)) await this.waitFor(s, rev);
    revision = this.layout.shards.length === 1 ? rev : this.sum;
    const event: RegistryEvent = note === undefined ? { type, revision, record } : { type, revision, record, note };
    for (const l of this.local) l(event);
    return revision;
  }

  /**
   * Applies this instance's own session change (store revision `rev` of shard `s`) when it is
   * the next change (else the tail brings it, in order); resolves with its view revision.
   */
  applyOwnSession(s: number, rev: number, change: Omit<SessionEvent, "revision">): number {
    if (rev === (this.pos[s] as number) + 1 && this.reloading === undefined) {
      const revision = this.advance(s, rev);
      this.view.applySession({ ...change, revision });
      return revision;
    }
    return this.layout.shards.length === 1 ? rev : this.sum + Math.max(0, rev - (this.pos[s] as number));
  }

  /**
   * Applies this instance's own load-only heartbeats of one HEARTBEATS call to shard `s`
   * (`revs[i]` is beat i's store revision, or <= 0 when it was not written) to the view's
   * record of each node as it is when applied, as the tail applies everyone's. When the view
   * is not yet at the revision before them (another instance's change comes first), the tail
   * applies them in order and local listeners hear of them then: the heartbeats' callers do
   * not wait for it. Returns each beat's view revision (a code <= 0 as it was; behind others'
   * changes, with several shards, the revision it would have had: approximate).
   *
   * When they are the next changes, their revisions are taken at once and the view applies them
   * later (RegistryView.defer): at the end of the turn, or at the first read of the view before
   * then, so their callers' replies go out first. Answering a chunk of 32 no longer waits for
   * 32 records to be made and applied and the balancer and the log to take them.
   */
  applyOwnLoads(s: number, beats: ReadonlyArray<OwnLoad>, revs: readonly number[]): number[] {
    const one = this.layout.shards.length === 1;
    let first = 0;
    for (const r of revs) if (r > 0 && (first === 0 || r < first)) first = r;
    if (first === 0) return [...revs];
    const pos = this.pos[s] as number;
    if (first <= pos) {
      // The tail was first (it read the entry before the answer came): only the listeners are left.
      const out = revs.map((r) => (r <= 0 || one ? r : this.sum));
      if (this.local.size > 0)
        for (let i = 0; i < beats.length; i++) {
          const record = (revs[i] as number) > 0 ? this.view.get((beats[i] as OwnLoad).nid) : undefined;
          if (record !== undefined)
            for (const l of this.local) l({ type: "updated", revision: out[i] as number, record });
        }
      return out;
    }
    if (first > pos + 1 || this.reloading !== undefined) {
      const own = this.ownPending[s] as Set<number>;
      if (this.local.size > 0 && own.size < MAX_PENDING_OWN)
        for (let i = 0; i < beats.length; i++) if ((revs[i] as number) > 0) own.add(revs[i] as number);
      return revs.map((r) => (r <= 0 || one ? r : this.sum + (r - pos)));
    }
    const out: number[] = [];
    for (let i = 0; i < beats.length; i++) {
      const r = revs[i] as number;
      out.push(r <= 0 ? r : this.advance(s, r));
    }
    this.view.defer(() => {
      for (let i = 0; i < beats.length; i++) {
        const revision = out[i] as number;
        if (revision <= 0) continue;
        const record = this.afterBeat(beats[i] as OwnLoad);
        // A node gone from the view meanwhile: passed over (as the tail would).
        if (record === undefined) continue;
        const event: RegistryEvent = { type: "updated", revision, record };
        this.view.apply(event);
        for (const l of this.local) l(event);
      }
    });
    return out;
  }

  /** Waits (up to REACH_OWN_MS) until the tail has brought shard `s` to `rev`. */
  private async waitFor(s: number, rev: number): Promise<void> {
    if ((this.pos[s] as number) >= rev) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, REACH_OWN_MS);
      const check = (): void => {
        if ((this.pos[s] as number) >= rev) done();
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

  /** Stops tailing (the tail connection must be closed to end the blocking read). */
  async stop(): Promise<void> {
    this.closed = true;
    for (const t of this.conn.tails) t.disconnect();
    await Promise.all(this.tailing);
  }
}
