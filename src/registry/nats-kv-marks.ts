/**
 * The NATS KV store's operators' marks (cordon, drain): each node's mark is its own key of the
 * nodes bucket (`m.<b64url(nid)>`), which the node's own writes never touch, so a heartbeat
 * through any instance, from however stale a view, neither clears nor brings back a mark. A
 * mark names the registration it was set on (NodeValue.gen): a node that leaves loses it, and
 * comes back unmarked. Writes are revision-checked on the mark key, so of two instances
 * marking at once one wins and the other decides again (ifMarkedAt, token) on what won. The
 * change is an entry of the nodes bucket, so it takes the registry's next revision in order
 * with the node changes, and the instance whose write succeeded reports it.
 */
import {
  Conflict,
  decodeMarkValue,
  decodeNode,
  encodeMarkValue,
  markKey,
  nodeKey,
  tokenHash,
  type KvBuckets,
  type MarkValue,
} from "./nats-kv-bucket.js";
import type { KvTail, NodeEntry } from "./nats-kv-tail.js";
import { StoreUnavailableError } from "./errors.js";
import type { MarkStore } from "./types.js";
import type { MarkChange, NodeMark, WriteResult } from "./model.js";

/** Writes tried per call when other instances keep changing the mark or the node. */
const ATTEMPTS = 4;

/** A node's key and mark key as one decision reads them. */
interface MarkState {
  node: NodeEntry | undefined;
  /** The sequence a write of the mark key must expect (0: it never existed). */
  markSeq: number;
  /** The mark of the live registration, if any. */
  mark: NodeMark | undefined;
  /** Read from the bucket just now (not from this instance's view). */
  fresh: boolean;
}

export class KvMarks implements MarkStore {
  constructor(
    private readonly b: KvBuckets,
    private readonly feed: KvTail,
  ) {}

  private local(nid: string): MarkState {
    const node = this.feed.entry(nid);
    const m = this.feed.markOf(nid);
    return {
      node,
      markSeq: m?.seq ?? 0,
      mark: m !== undefined && node !== undefined && m.value.gen === node.gen ? m.value.mark : undefined,
      fresh: false,
    };
  }

  private async read(nid: string): Promise<MarkState> {
    const [n, m] = await Promise.all([this.b.get(this.b.nodes, nodeKey(nid)), this.b.get(this.b.nodes, markKey(nid))]);
    let node: NodeEntry | undefined;
    if (n !== null && n.value.length > 0) {
      const v = decodeNode(n.value);
      node = { seq: n.revision, token: v.token, gen: v.gen, record: v.record, live: n.operation === "PUT" };
      this.feed.note(nid, node);
    }
    const mv = m !== null && m.value.length > 0 ? decodeMarkValue(m.value) : undefined;
    return {
      node,
      markSeq: m?.revision ?? 0,
      mark: mv !== undefined && node !== undefined && mv.gen === node.gen ? mv.mark : undefined,
      fresh: true,
    };
  }

  async markNode(nid: string, change: MarkChange): Promise<WriteResult> {
    const view = this.feed.view;
    let cur: MarkState | undefined = this.local(nid);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      cur ??= await this.read(nid);
      const n = cur.node;
      const now = Date.now();
      const refusal =
        n?.live !== true || this.b.leaseHolds(n.record.expiresAt, n.record.leaseMs) <= now
          ? "unknown"
          : change.token !== undefined && !n.token.equals(tokenHash(change.token))
            ? "token"
            : change.ifMarkedAt !== undefined &&
                ((cur.mark?.at ?? 0) !== change.ifMarkedAt || (cur.mark?.drainedAt ?? 0) > 0)
              ? "stale"
              : undefined;
      if (refusal !== undefined || n === undefined) {
        if (!cur.fresh) {
          cur = undefined;
          continue;
        }
        return { revision: view.revision, refused: refusal ?? "unknown" };
      }
      const value: MarkValue = { gen: n.gen, type: change.type, note: change.note, mark: change.mark };
      try {
        const seq = await this.b.write(this.b.cfg.bucket, markKey(nid), encodeMarkValue(value), cur.markSeq);
        const event = await this.feed.applyOwnMark(nid, seq, value);
        if (event !== undefined) return { revision: event.revision };
        // The registration it named ended (or was followed by a new one) before the mark: decide again.
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
      }
      cur = undefined;
    }
    throw new StoreUnavailableError(
      `the NATS ${this.b.where}: the mark of node ${nid} kept changing under ${ATTEMPTS} writes`,
    );
  }
}
