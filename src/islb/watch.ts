/**
 * Watch: the nodes of a service as a snapshot (or the changes missed since a revision), then
 * every change in order; on request session changes (moves, releases; placements and expiries when the registry
 * records them) too, or only them, in
 * the same revisions. Subscribes before reading the snapshot, in the same turn of the
 * event loop, so nothing falls between them. A watcher that falls too far behind is ended
 * RESOURCE_EXHAUSTED with the revision to resume from.
 */
import { WatchEvent_Type, WatchEvents, type WatchEvent, type WatchRequest } from "../../generated/islb/islb.js";
import type { RegistryView } from "../registry/view.js";
import type { ChangeType, MarkNote, NodeRecord, RegistryEvent, SessionEvent } from "../registry/types.js";
import type { SessionChangeType } from "../registry/model.js";
import { ServerError, Status, fail } from "../status.js";
import { MessageQueue } from "../transport/flow.js";
import { toNodeInfo } from "../registry/records.js";
import { checkOptionalToken } from "./validate.js";

const TYPES: Record<ChangeType, WatchEvent_Type> = {
  up: WatchEvent_Type.TYPE_UP,
  updated: WatchEvent_Type.TYPE_UPDATED,
  draining: WatchEvent_Type.TYPE_DRAINING,
  down: WatchEvent_Type.TYPE_DOWN,
  expired: WatchEvent_Type.TYPE_EXPIRED,
  cordoned: WatchEvent_Type.TYPE_CORDONED,
  uncordoned: WatchEvent_Type.TYPE_UNCORDONED,
  drained: WatchEvent_Type.TYPE_DRAINED,
};

const event = (type: WatchEvent_Type, revision: number, r?: NodeRecord, note?: MarkNote): WatchEvent => ({
  type,
  revision,
  node: r === undefined ? undefined : toNodeInfo(r),
  by: note?.by ?? "",
  reason: note?.reason ?? "",
  session: undefined,
});

const SESSION_TYPES: Record<SessionChangeType, WatchEvent_Type> = {
  moved: WatchEvent_Type.TYPE_SESSION_MOVED,
  released: WatchEvent_Type.TYPE_SESSION_RELEASED,
  expanded: WatchEvent_Type.TYPE_SESSION_EXPANDED,
  placed: WatchEvent_Type.TYPE_SESSION_PLACED,
  expired: WatchEvent_Type.TYPE_SESSION_EXPIRED,
};

const sessionEvent = (e: SessionEvent): WatchEvent => ({
  type: SESSION_TYPES[e.type],
  revision: e.revision,
  node: undefined,
  by: "",
  reason: "",
  session: { sid: e.sid, service: e.service, nid: e.nid, fromNid: e.from, reason: e.reason },
});

/** A node change or a session change, as the queue holds them. */
type Change = { node: RegistryEvent } | { session: SessionEvent };

export async function* watchNodes(
  view: RegistryView,
  req: WatchRequest,
  signal: AbortSignal,
  backlog: number,
  stopping?: AbortSignal,
): AsyncGenerator<WatchEvent> {
  checkOptionalToken("service", req.service, true);
  const all = req.service === "" || req.service === "*";
  const matches = (r: NodeRecord): boolean => all || r.node.service === req.service;
  const sessionMatches = (e: SessionEvent): boolean => all || e.service === req.service;
  const wantNodes = req.events !== WatchEvents.WATCH_EVENTS_SESSIONS;
  const wantSessions = req.events === WatchEvents.WATCH_EVENTS_SESSIONS || req.events === WatchEvents.WATCH_EVENTS_ALL;
  const queue = new MessageQueue<Change>(backlog);
  let overflow = false;
  const push = (c: Change): void => {
    if (queue.push(c)) return;
    overflow = true;
    queue.end();
  };
  const unsubscribe = wantNodes ? view.subscribe((e) => matches(e.record) && push({ node: e })) : () => undefined;
  const unsubscribeSessions = wantSessions
    ? view.sessions.subscribe((e) => sessionMatches(e) && push({ session: e }))
    : () => undefined;
  const stopResync = view.onResync((rev) => {
    queue.fail(
      new ServerError(
        Status.UNAVAILABLE,
        `the registry reloaded its state at revision ${rev}; resume from your last revision`,
      ),
    );
  });
  const onAbort = (): void => queue.end();
  signal.addEventListener("abort", onAbort);
  let last = 0;
  // The instance stops: the watcher resumes elsewhere at once (the stop does not wait for it).
  const onStop = (): void =>
    queue.fail(
      new ServerError(
        Status.UNAVAILABLE,
        `this islb instance is stopping; resume from revision ${last} (another instance answers)`,
      ),
    );
  if (stopping?.aborted === true) onStop();
  stopping?.addEventListener("abort", onStop);
  try {
    // Everything up to `rev` comes from here; later changes from the queue.
    const rev = view.revision;
    const initial: WatchEvent[] = [];
    const snapshot = (): void => {
      if (wantNodes)
        for (const r of view.nodesOf(req.service)) initial.push(event(WatchEvent_Type.TYPE_EXISTING, rev, r));
    };
    const from = Number(req.fromRevision);
    const missedNodes = from > 0 && from <= rev && wantNodes ? view.since(from) : [];
    const missedSessions = from > 0 && from <= rev && wantSessions ? view.sessions.since(from) : [];
    if (from > 0 && from <= rev && missedNodes !== undefined && missedSessions !== undefined) {
      // Both logs in revision order.
      const out: WatchEvent[] = [];
      for (const e of missedNodes) if (matches(e.record)) out.push(event(TYPES[e.type], e.revision, e.record, e.note));
      for (const e of missedSessions) if (sessionMatches(e)) out.push(sessionEvent(e));
      out.sort((a, b) => a.revision - b.revision);
      initial.push(...out);
    } else {
      if (from > 0) initial.push(event(WatchEvent_Type.TYPE_RESET, rev));
      snapshot();
    }
    initial.push(event(WatchEvent_Type.TYPE_SYNCED, rev));
    last = rev;
    for (const e of initial) yield e;
    for await (const c of queue) {
      if ("session" in c) {
        last = c.session.revision;
        yield sessionEvent(c.session);
        continue;
      }
      const e = c.node;
      last = e.revision;
      yield event(TYPES[e.type], e.revision, e.record, e.note);
    }
    if (overflow)
      fail(
        Status.RESOURCE_EXHAUSTED,
        `the watcher fell more than ${backlog} changes behind; resume from revision ${last}`,
      );
  } finally {
    unsubscribe();
    unsubscribeSessions();
    stopResync();
    signal.removeEventListener("abort", onAbort);
    stopping?.removeEventListener("abort", onStop);
  }
}
