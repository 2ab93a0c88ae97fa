/**
 * The Redis store's change feed: the instance's view, loaded from a snapshot and kept current
 * by tailing the change stream (XREAD BLOCK on the second connection), with this instance's
 * own writes applied as their scripts answer, in revision order. A gap in the stream (trimmed
 * or wiped) reloads the snapshot. The same read tails the session-change stream (releases and
 * re-placements), for whoever answers known sessions from memory.
 */
import { decodeRecord } from "./records.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeFeed } from "./types.js";
import type { ChangeType, MarkNote, NodeRecord, RegistryEvent, SessionEvent } from "./model.js";
import { decodeMark } from "./marks.js";
import { readMarks } from "./redis-mark-scripts.js";
import { parseSessionEvent } from "./redis-session-events.js";
import { RegistryView } from "./view.js";
import type { HistoryLimits } from "./history.js";

const TYPES = new Set<ChangeType>(["up", "updated", "draining", "down", "expired", "cordoned", "uncordoned", "drained"]);

/** A record as the store keeps it (base64 of a NodeInfo message). */
export const unb64 = (s: string): NodeRecord => decodeRecord(new Uint8Array(Buffer.from(s, "base64")));

/** How long a write waits for the tail to bring the changes before its own. */
const REACH_OWN_MS = 1000;

export class ChangeTail implements ChangeFeed {
  readonly view: RegistryView;
  private readonly local = new Set<(e: RegistryEvent) => void>();
  private closed = false;
  private tailing: Promise<void> | undefined;
  /** The last session-change entry read (from the stream's end at the first load). */
  private sessionsFrom: string | undefined;
  private readonly sessionListeners = new Set<(key: string) => void>();

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
      const last = (await this.conn.cmd.xrevrange(this.k.sessionChanges, "+", "-", "COUNT", 1)) as Array<[string, string[]]>;
      this.sessionsFrom = last[0]?.[0] ?? "0-0";
    }
    const [rev, ...recs] = await this.conn.cmd.islbSnapshot(this.k.nodes, this.k.rev, this.k.node, Date.now() * 1000);
    // Read just after the snapshot: the changes the tail replays from its revision set any mark changed between the two.
    const marks = await readMarks(this.conn, this.k);
    const records: NodeRecord[] = [];
    for (const r of recs) {
      try {
        const rec = unb64(r);
        const mark = marks.get(rec.node.nid);
        records.push(mark === undefined ? rec : { ...rec, mark });
      } catch (e) {
        this.onError?.(e);
      }
    }
    this.view.resync(Number(rev), records);
  }

  /** Starts tailing the stream from the view's revision. */
  start(): void {
    this.tailing = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        const res = (await this.conn.tail.xread("COUNT", 1000, "BLOCK", 1000, "STREAMS", this.k.events, this.k.sessionChanges, `${this.view.revision}-0`, this.sessionsFrom ?? "$")) as Array<
          [string, Array<[string, string[]]>]
        > | null;
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
            this.applyEntry(rev, fields);
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

  private applyEntry(rev: number, fields: string[]): void {
    let type: string | undefined;
    let rec: string | undefined;
    let mark: string | undefined;
    let by: string | undefined;
    let why = "";
    let session: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "t") type = fields[i + 1];
      else if (fields[i] === "s") session = fields[i + 1];
      else if (fields[i] === "r") rec = fields[i + 1];
      else if (fields[i] === "m") mark = fields[i + 1];
      else if (fields[i] === "by") by = fields[i + 1];
      else if (fields[i] === "why") why = fields[i + 1] ?? "";
    }
    // A session change (redis-session-events.ts): the next revision, for session watchers only.
    if (type === "session" && session !== undefined) {
      const e = rev > this.view.revision ? parseSessionEvent(rev, session) : undefined;
      if (e !== undefined) this.view.applySession(e);
      return;
    }
    if (type === undefined || rec === undefined || !TYPES.has(type as ChangeType)) return;
    // Our own writes were applied when their scripts answered: not decoded a second time.
    if (rev <= this.view.revision) return;
    // A mark change (redis-mark-scripts.ts) carries the mark and who and why.
    if (by !== undefined) {
      this.view.apply({ type: type as ChangeType, revision: rev, record: { ...unb64(rec), mark: decodeMark(mark) }, note: { by, reason: why } });
      return;
    }
    this.view.apply({ type: type as ChangeType, revision: rev, record: unb64(rec) });
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

  private async reach(event: RegistryEvent): Promise<void> {
    const rev = event.revision;
    if (!this.isGap(rev)) {
      this.view.apply(event);
      return;
    }
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
