/**
 * Watch: the nodes of a service as a snapshot (or the changes missed since a revision), then
 * every change in order. Subscribes before reading the snapshot, in the same turn of the
 * event loop, so nothing falls between them. A watcher that falls too far behind is ended
 * RESOURCE_EXHAUSTED with the revision to resume from.
 */
import { WatchEvent_Type, type WatchEvent, type WatchRequest } from "../../generated/islb/islb.js";
import type { RegistryView } from "../registry/view.js";
import type { ChangeType, MarkNote, NodeRecord, RegistryEvent } from "../registry/types.js";
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
});

export async function* watchNodes(view: RegistryView, req: WatchRequest, signal: AbortSignal, backlog: number): AsyncGenerator<WatchEvent> {
  checkOptionalToken("service", req.service, true);
  const all = req.service === "" || req.service === "*";
  const matches = (r: NodeRecord): boolean => all || r.node.service === req.service;
  const queue = new MessageQueue<RegistryEvent>(backlog);
  let overflow = false;
  const unsubscribe = view.subscribe((e) => {
    if (!matches(e.record) || queue.push(e)) return;
    overflow = true;
    queue.end();
  });
  const stopResync = view.onResync((rev) => {
    queue.fail(new ServerError(Status.UNAVAILABLE, `the registry reloaded its state at revision ${rev}; resume from your last revision`));
  });
  const onAbort = (): void => queue.end();
  signal.addEventListener("abort", onAbort);
  try {
    // Everything up to `rev` comes from here; later changes from the queue.
    const rev = view.revision;
    const initial: WatchEvent[] = [];
    const snapshot = (): void => {
      for (const r of view.nodesOf(req.service)) initial.push(event(WatchEvent_Type.TYPE_EXISTING, rev, r));
    };
    const from = Number(req.fromRevision);
    const missed = from > 0 && from <= rev ? view.since(from) : undefined;
    if (missed !== undefined) {
      for (const e of missed) if (matches(e.record)) initial.push(event(TYPES[e.type], e.revision, e.record, e.note));
    } else {
      if (from > 0) initial.push(event(WatchEvent_Type.TYPE_RESET, rev));
      snapshot();
    }
    initial.push(event(WatchEvent_Type.TYPE_SYNCED, rev));
    let last = rev;
    for (const e of initial) yield e;
    for await (const e of queue) {
      last = e.revision;
      yield event(TYPES[e.type], e.revision, e.record, e.note);
    }
    if (overflow) fail(Status.RESOURCE_EXHAUSTED, `the watcher fell more than ${backlog} changes behind; resume from revision ${last}`);
  } finally {
    unsubscribe();
    stopResync();
    signal.removeEventListener("abort", onAbort);
  }
}
