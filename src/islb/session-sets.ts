/**
 * Sessions that span nodes (FindNodeRequest.overflow): a room that outgrows its node gets more.
 * The session's node set is kept by the store as a compare-and-set value (SessionSetStore);
 * each overflow lookup reads it and, when it must change, writes it conditioned on the revision
 * it read (re-reading when another caller wrote first), so every caller through any instance
 * gets the same set in the same order. The set changes when:
 * - its first node is not the session's placement any more (the placement moved off a host that
 *   could not keep it): the placement comes first, the old first node stays only if it can keep;
 * - a later member cannot keep the session (gone, draining): it is replaced where it stood by the
 *   balancer's pick (a SESSION_MOVED event), or dropped when no node can take it;
 * - its join node (the last) has reached a hard limit by its heartbeats, or is the caller's
 *   `full_nid`, and the set has fewer than `max_nodes`: the balancer's pick among the other
 *   nodes (the caller's region first) is added (a SESSION_EXPANDED event).
 * The set only grows or keeps its order, so callers that raced agree once they re-read.
 */
import type { Balancer, Preference } from "../balancer/balancer.js";
import { reached } from "../balancer/score.js";
import { canKeep } from "../registry/session-adopt.js";
import type { RegistryStore, SessionChangeInput, SessionSet } from "../registry/types.js";
import { StoreUnavailableError } from "../registry/errors.js";

/** Nodes in a set when the caller names no bound, and the most a caller may ask for. */
export const DEFAULT_MAX_NODES = 8;
export const MAX_MAX_NODES = 64;

/** Reads and writes tried per lookup when other callers change the set meanwhile. */
const ATTEMPTS = 6;

export interface SetLookup {
  readonly service: string;
  readonly sid: string;
  /** The node the session is placed on (its placement, as FindNode found or made it). */
  readonly primary: string;
  readonly pref: Preference;
  readonly fullNid: string;
  readonly maxNodes: number;
  readonly idleMs: number;
}

/** What the set's change was, for the session events. */
interface Step {
  readonly nodes: string[];
  readonly events: SessionChangeInput[];
  readonly picked: string[];
}

function nextSet(cur: readonly string[], q: SetLookup, store: RegistryStore, balancer: Balancer, now: number): Step {
  const view = store.view;
  const keeps = (nid: string): boolean => canKeep(view.get(nid), q.service, now);
  const nodes = [q.primary];
  const events: SessionChangeInput[] = [];
  const picked: string[] = [];
  const pick = (): string | undefined => {
    const p = balancer.pick(q.service, q.pref, new Set([...cur, ...nodes]));
    if (p !== undefined) picked.push(p);
    return p;
  };
  cur.forEach((nid, i) => {
    if (nid === q.primary || nodes.includes(nid)) return;
    if (keeps(nid)) nodes.push(nid);
    else if (i > 0) {
      const to = pick();
      if (to === undefined) return;
      nodes.push(to);
      events.push({ type: "moved", service: q.service, sid: q.sid, nid: to, from: nid, reason: "set member gone" });
    }
  });
  const join = nodes[nodes.length - 1] as string;
  const jr = view.get(join);
  const full = join === q.fullNid || (jr !== undefined && reached(jr.load, jr.hard, 0));
  if (full && nodes.length < q.maxNodes) {
    const to = pick();
    if (to !== undefined) {
      nodes.push(to);
      events.push({
        type: "expanded",
        service: q.service,
        sid: q.sid,
        nid: to,
        from: join,
        reason: join === q.fullNid ? "join node full (caller)" : "join node at a hard limit",
      });
    }
  }
  return { nodes, events, picked };
}

const same = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The session's node set after this lookup (see the file's comment); `announce` gets its changes. */
export async function lookupSet(
  q: SetLookup,
  store: RegistryStore,
  balancer: Balancer,
  announce: (change: SessionChangeInput) => Promise<void>,
): Promise<SessionSet> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const now = Date.now();
    const cur = (await store.sessionSet(q.service, q.sid, q.idleMs)) ?? { nodes: [q.primary], revision: 0 };
    const step = nextSet(cur.nodes, q, store, balancer, now);
    if (same(step.nodes, cur.nodes)) return cur;
    const written = await store.writeSessionSet(q.service, q.sid, step.nodes, cur.revision, q.idleMs);
    if (written === undefined) continue;
    for (const nid of step.picked) if (step.nodes.includes(nid)) balancer.notePlaced(nid);
    for (const e of step.events) await announce(e);
    return written;
  }
  throw new StoreUnavailableError(
    `session ${q.sid} of ${q.service}: its node set kept changing under ${ATTEMPTS} writes`,
  );
}
