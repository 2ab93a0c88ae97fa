/**
 * The Redis store's operators' marks (cordon, drain): one script (redis-mark-scripts.ts) sets
 * or clears the mark in fields of the node's hash that heartbeats never write, and appends the
 * change to the stream; the change is then applied to the view in order, which merges the mark
 * into the node's later records.
 */
import { encodeMark } from "./marks.js";
import { markCommands } from "./redis-mark-scripts.js";
import type { RedisConnection, RedisKeys } from "./redis-connection.js";
import type { ChangeTail } from "./redis-tail.js";
import type { MarkStore } from "./types.js";
import type { MarkChange, WriteResult } from "./model.js";

/** The Redis store's MarkStore. */
export class RedisMarks implements MarkStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly feed: ChangeTail,
    private readonly streamLength: number,
  ) {}

  async markNode(nid: string, change: MarkChange): Promise<WriteResult> {
    const view = this.feed.view;
    const layout = this.feed.layout;
    const known = view.get(nid);
    // The node's shard, by its service; a node this view does not have may be in any.
    const shards = known !== undefined ? [layout.of(known.node.service)] : layout.shards.map((_, i) => i);
    let last: WriteResult = { revision: view.revision, refused: "unknown" };
    for (const s of shards) {
      last = await this.markIn(s, layout.shards[s] as RedisKeys, nid, change);
      if (last.refused !== "unknown") return last;
    }
    return last;
  }

  private async markIn(s: number, k: RedisKeys, nid: string, change: MarkChange): Promise<WriteResult> {
    const view = this.feed.view;
    const now = Date.now();
    const m = change.mark;
    const [rev] = await this.conn.guard(
      markCommands(this.conn).islbMark(
        k.node + nid,
        k.events,
        k.rev,
        nid,
        change.token ?? "",
        encodeMark(m),
        m === undefined ? "" : m.kind === "cordoned" ? "c" : "d",
        change.type,
        this.streamLength,
        this.feed.seed(now),
        change.ifMarkedAt === undefined ? "" : String(change.ifMarkedAt),
        now,
        change.note.by,
        change.note.reason,
        // 'markat' names the mark and whether it is drained: a condition on it holds for an undrained mark only.
        m === undefined ? "" : m.drainedAt > 0 ? `${m.at}-drained` : String(m.at),
      ),
    );
    if (rev === -1) return { revision: view.revision, refused: "token" };
    if (rev === -2) return { revision: view.revision, refused: "unknown" };
    if (rev === -3) return { revision: view.revision, refused: "stale" };
    const base = view.get(nid);
    if (base !== undefined)
      return { revision: await this.feed.applyOwn(s, change.type, rev, { ...base, mark: m }, change.note) };
    return { revision: this.feed.layout.shards.length === 1 ? rev : view.revision };
  }
}
