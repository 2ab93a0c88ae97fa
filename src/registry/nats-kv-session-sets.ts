/**
 * The NATS KV store's session node sets (FindNodeRequest.overflow): one entry per session in the
 * sessions bucket, key `x.<b64url(service)>.<b64url(sid)>` (two dots: never a session's key),
 * value `<until ms> <revision> <nid> <nid>...`. Written by a revision-checked update of the entry
 * read (compare-and-set), so every caller through any instance reads the same set in the same
 * order; renewed by reads at most every idle time / 20; deleted (a DEL marker) with the session.
 */
import { Conflict, keyPart, type KvBuckets } from "./nats-kv-bucket.js";
import type { SessionSet } from "./model.js";

const setKey = (service: string, sid: string): string => `x.${keyPart(service)}.${keyPart(sid)}`;

interface SetValue {
  readonly until: number;
  readonly set: SessionSet;
}

const encode = (until: number, set: SessionSet): Uint8Array =>
  Buffer.from([String(until), String(set.revision), ...set.nodes].join(" "), "utf8");

function decode(bytes: Uint8Array): SetValue | undefined {
  const [until, rev, ...nodes] = Buffer.from(bytes).toString("utf8").split(" ");
  const u = Number(until);
  const r = Number(rev);
  return Number.isFinite(u) && Number.isInteger(r) && nodes.length > 0
    ? { until: u, set: { nodes, revision: r } }
    : undefined;
}

export class KvSessionSets {
  constructor(private readonly b: KvBuckets) {}

  private async read(key: string, now: number): Promise<{ v: SetValue | undefined; kvRev: number }> {
    const e = await this.b.get(this.b.sessions, key);
    const v = e?.operation === "PUT" ? decode(e.value) : undefined;
    return { v: v !== undefined && v.until > now ? v : undefined, kvRev: e?.revision ?? 0 };
  }

  async sessionSet(service: string, sid: string, idleMs: number): Promise<SessionSet | undefined> {
    const key = setKey(service, sid);
    const now = Date.now();
    const { v, kvRev } = await this.read(key, now);
    if (v === undefined) return undefined;
    if (now - (v.until - idleMs) >= Math.max(1000, idleMs / 20))
      await this.b.write(this.b.sessionsBucket, key, encode(now + idleMs, v.set), kvRev).catch((e: unknown) => {
        // Another instance wrote it meanwhile: that write renewed it.
        if (!(e instanceof Conflict)) throw e;
      });
    return v.set;
  }

  async writeSessionSet(
    service: string,
    sid: string,
    nodes: readonly string[],
    ifRevision: number,
    idleMs: number,
  ): Promise<SessionSet | undefined> {
    const key = setKey(service, sid);
    const now = Date.now();
    const { v, kvRev } = await this.read(key, now);
    if ((v?.set.revision ?? 0) !== ifRevision) return undefined;
    const set: SessionSet = { nodes: [...nodes], revision: ifRevision + 1 };
    try {
      await this.b.write(this.b.sessionsBucket, key, encode(now + idleMs, set), kvRev);
      return set;
    } catch (e) {
      if (e instanceof Conflict) return undefined;
      throw e;
    }
  }

  /** Forgets a released session's set. */
  async drop(service: string, sid: string): Promise<void> {
    await this.b.write(this.b.sessionsBucket, setKey(service, sid), new Uint8Array(0), undefined, true);
  }
}
