/**
 * The Redis store's change feed: the instance's view, loaded from a snapshot and kept current
 * by tailing the change stream (XREAD BLOCK on the second connection), with this instance's
 * own writes applied as their scripts answer, in revision order. A gap in the stream (trimmed
 * or wiped) reloads the snapshot. The same read tails the session-change stream (releases and
 * re-placements), for whoever answers known sessions from memory.
 */
import { decodeLoad, decodeRecord } from "./records.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeFeed } from "./types.js";
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

/** A record as the store keeps it (base64 of a NodeInfo message). */
export const unb64 = (s: string): NodeRecord => decodeRecord(new Uint8Array(Buffer.from(s, "base64")));

/**
 * `r` with the load, lease end and lease that load-only heartbeats wrote since it (base64 of
 * an islb.Load message, ms, ms), when they did: `lms` is there only then. An empty `load` is a
 * load of all zeros (protobuf writes no field of it), not a missing one: an idle node's lease
 * is renewed like any other.
 */
export function withLoad(
  r: NodeRecord,
  load: string | undefined,
  exp: string | undefined,
  lms: string | undefined,
): NodeRecord {
  if (lms === undefined || lms === "" || load === undefined) return r;
  const leaseMs = Number(lms);
  return {
    ...r,
    load: decodeLoad(new Uint8Array(Buffer.from(load, "base64"))),
    expiresAt: Number(exp),
    leaseMs: leaseMs > 0 ? leaseMs : r.leaseMs,
  };
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
  private tailing: Promise<void> | undefined;
  /** The last session-change entry read (from the stream's end at the first load). */
  private sessionsFrom: string | undefined;
  private readonly sessionListeners = new Set<(key: string) => void>();
  /** Revisions of own load-only heartbeats written behind others' changes: the tail tells local listeners. */
  private readonly ownPending = new Set<number>();

  constructor(
    private readonly conn: RedisConnection,
    private readonly k: RedisKeys,
    history: Partial<HistoryLimits> | undefined,
    private readonly onError: ((err: unknown) => void) | undefined,
  ) {
    this.view = new RegistryView(history);
  }

  /** Reads every node (start-up, or after a gap in the stream). */
  async load(): Promise<void> {
    if (this.sessionsFrom === undefined) {
      const last = (await this.conn.cmd.xrevrange(this.k.sessionChanges, "+", "-", "COUNT", 1)) as Array<
        [string, string[]]
      >;
      this.sessionsFrom = last[0]?.[0] ?? "0-0";
    }
    const [rev, ...recs] = await this.conn.cmd.islbSnapshot(this.k.nodes, this.k.rev, this.k.node, Date.now() * 1000);
    // Read just after the snapshot: the changes the tail replays from its revision set any mark changed between the two.
    const marks = await readMarks(this.conn, this.k);
    const records: NodeRecord[] = [];
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
    this.ownPending.clear();
    this.view.resync(Number(rev), records);
  }

  /** Starts tailing the stream from the view's revision. */
  start(): void {
    this.tailing = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        const res = (await this.conn.tail.xread(
          "COUNT",
          1000,
          "BLOCK",
          1000,
          "STREAMS",
          this.k.events,
          this.k.sessionChanges,
          `${this.view.revision}-0`,
          this.sessionsFrom ?? "$",
        )) as Array<[string, Array<[string, string[]]>]> | null;
        if (res === null) continue;
        for (const [stream, entries] of res) {
          if (stream === this.k.sessionChanges) {
            this.sessionChanges(entries);
            continue;
          }
          for (const [id, fields] of entries) {
            const rev = Number(id.slice(0, id.indexOf("-")));
            if (this.isGap(rev)) {
              // Changes are missing (the stream was trimmed or wiped): start again from a snapshot.
              await this.load();
              break;
            }
            if (!this.applyEntry(rev, fields)) {
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

  private sessionChanges(entries: Array<[string, string[]]>): void {
    for (const [id, fields] of entries) {
      this.sessionsFrom = id;
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
  private applyEntry(rev: number, fields: string[]): boolean {
    // Our own writes were applied when their scripts answered: not decoded a second time.
    if (rev <= this.view.revision) return true;
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
    if (type === "session") {
      const e = session === undefined ? undefined : parseSessionEvent(rev, session);
      if (e !== undefined) this.view.applySession(e);
      return true;
    }
    if (type === "loads") return body === undefined || this.applyLoads(rev, body);
    if (type === "load") {
      const base = nid === undefined ? undefined : this.view.get(nid);
      if (base === undefined) return false;
      this.view.apply({ type: "updated", revision: rev, record: withLoad(base, load, exp, lms) });
      return true;
    }
    if (type === undefined || rec === undefined || !TYPES.has(type as ChangeType)) return true;
    const record = withLoad(unb64(rec), load, exp, lms);
    // A mark change (redis-mark-scripts.ts) carries the mark and who and why.
    if (by !== undefined)
      this.view.apply({
        type: type as ChangeType,
        revision: rev,
        record: { ...record, mark: decodeMark(mark) },
        note: { by, reason: why },
      });
    else this.view.apply({ type: type as ChangeType, revision: rev, record });
    return true;
  }

  /**
   * A HEARTBEATS entry: four words per node (nid, load or "-" for an empty one, lease end,
   * lease), at revisions `first`, `first + 1`, ... False when a node is not in the view.
   */
  private applyLoads(first: number, body: string): boolean {
    const w = body.split(" ");
    for (let i = 0, rev = first; i + 3 < w.length; i += 4, rev++) {
      if (rev <= this.view.revision) continue;
      const nid = w[i] as string;
      const base = this.view.get(nid);
      if (base === undefined) return false;
      const l = w[i + 1] as string;
      const event: RegistryEvent = {
        type: "updated",
        revision: rev,
        record: withLoad(base, l === "-" ? "" : l, w[i + 2], w[i + 3]),
      };
      this.view.apply(event);
      if (this.ownPending.size > 0 && this.ownPending.delete(rev)) for (const l of this.local) l(event);
    }
    return true;
  }

  /** True when changes before `rev` are missing from the view. */
  private isGap(rev: number): boolean {
    return rev > this.view.revision + 1;
  }

  onLocalChange(listener: (event: RegistryEvent) => void): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  /**
   * Applies this instance's own write at once when it is the next change; otherwise waits
   * (briefly) for the tail to bring the changes before it, in order. Either way the write's
   * caller then reads its own write from the view; local listeners hear of it.
   */
  async applyOwn(type: ChangeType, revision: number, record: NodeRecord, note?: MarkNote): Promise<void> {
    const event: RegistryEvent = note === undefined ? { type, revision, record } : { type, revision, record, note };
    await this.reach(event);
    for (const l of this.local) l(event);
  }

  /** Applies this instance's own session change when it is the next change (else the tail brings it, in order). */
  applyOwnSession(event: SessionEvent): void {
    if (!this.isGap(event.revision)) this.view.applySession(event);
  }

  /**
   * Applies this instance's own load-only heartbeats of one HEARTBEATS call (`revs[i]` is
   * beat i's revision, or <= 0 when it was not written) to the view's record of each node as
   * it is when applied, as the tail applies everyone's. When the view is not yet at the
   * revision before them (another instance's change comes first), the tail applies them in
   * order and local listeners hear of them then: the heartbeats' callers do not wait for it.
   */
  applyOwnLoads(beats: ReadonlyArray<OwnLoad>, revs: readonly number[]): void {
    let first = 0;
    for (const r of revs) if (r > 0 && (first === 0 || r < first)) first = r;
    if (first === 0) return;
    if (first <= this.view.revision) {
      // The tail was first (it read the entry before the answer came): only the listeners are left.
      if (this.local.size > 0)
        for (let i = 0; i < beats.length; i++) {
          const record = (revs[i] as number) > 0 ? this.view.get((beats[i] as OwnLoad).nid) : undefined;
          if (record !== undefined)
            for (const l of this.local) l({ type: "updated", revision: revs[i] as number, record });
        }
      return;
    }
    if (this.isGap(first)) {
      if (this.local.size > 0 && this.ownPending.size < MAX_PENDING_OWN)
        for (let i = 0; i < beats.length; i++) if ((revs[i] as number) > 0) this.ownPending.add(revs[i] as number);
      return;
    }
    for (let i = 0; i < beats.length; i++) {
      const revision = revs[i] as number;
      if (revision <= 0) continue;
      const b = beats[i] as OwnLoad;
      const base = this.view.get(b.nid);
      if (base === undefined) continue;
      const event: RegistryEvent = {
        type: "updated",
        revision,
        record: { ...base, load: b.value, expiresAt: b.expiresAt, leaseMs: b.leaseMs },
      };
      this.view.apply(event);
      for (const l of this.local) l(event);
    }
  }

  private async reach(event: RegistryEvent): Promise<void> {
    const rev = event.revision;
    if (!this.isGap(rev)) {
      this.view.apply(event);
      return;
    }
    await this.waitFor(rev);
  }

  /** Waits (up to REACH_OWN_MS) until the tail has brought the view to `rev`. */
  private async waitFor(rev: number): Promise<void> {
    if (this.view.revision >= rev) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, REACH_OWN_MS);
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

  /** Stops tailing (the tail connection must be closed to end the blocking read). */
  async stop(): Promise<void> {
    this.closed = true;
    this.conn.tail.disconnect();
    await this.tailing;
  }
}
