/** `islb nodes` and `islb watch`: the registry's nodes, read through Watch. */
import type { NatsConnection } from "nats";
import {
  ISLBDefinition,
  WatchEvent_Type,
  WatchEvents,
  type NodeInfo,
  type WatchEvent,
} from "../../generated/islb/islb.js";
import { ClientError, Status } from "../status.js";
import { createClient } from "../transport/client.js";
import { NODE_HEADER, eventLine, nodeRow, table } from "./output.js";

const json = (e: WatchEvent): string =>
  JSON.stringify({ ...(ISLBDefinition.methods.watch.responseType.toJSON(e) as object) });

/** The nodes of a service ("" for all) at one revision: Watch until SYNCED. */
export async function snapshotNodes(
  nc: NatsConnection,
  service: string,
  opts: { prefix?: string; nid?: string },
): Promise<{ revision: number; nodes: NodeInfo[] }> {
  const client = createClient(ISLBDefinition, nc, { prefix: opts.prefix, nid: opts.nid });
  const ac = new AbortController();
  const nodes: NodeInfo[] = [];
  try {
    for await (const e of client.watch({ service }, { signal: ac.signal, deadline: 10_000 })) {
      if (e.type === WatchEvent_Type.TYPE_EXISTING && e.node !== undefined) nodes.push(e.node);
      if (e.type === WatchEvent_Type.TYPE_SYNCED) return { revision: e.revision, nodes };
    }
  } finally {
    ac.abort();
  }
  throw new Error("the watch ended before the snapshot was complete");
}

export async function printNodes(
  nc: NatsConnection,
  service: string,
  asJson: boolean,
  opts: { prefix?: string; nid?: string },
): Promise<void> {
  const { revision, nodes } = await snapshotNodes(nc, service, opts);
  nodes.sort(
    (a, b) =>
      (a.registration?.node?.service ?? "").localeCompare(b.registration?.node?.service ?? "") ||
      (a.registration?.node?.nid ?? "").localeCompare(b.registration?.node?.nid ?? ""),
  );
  if (asJson) {
    for (const n of nodes)
      process.stdout.write(
        `${JSON.stringify(ISLBDefinition.methods.watch.responseType.toJSON({ type: WatchEvent_Type.TYPE_EXISTING, revision, node: n, by: "", reason: "", session: undefined }))}\n`,
      );
    return;
  }
  process.stdout.write(
    `${table(
      NODE_HEADER,
      nodes.map((n) => nodeRow(n)),
    )}\n`,
  );
  process.stderr.write(`${nodes.length} node${nodes.length === 1 ? "" : "s"} at revision ${revision}\n`);
}

/**
 * Statuses a watch resumes after, once it has been established: islb restarting or reloading
 * (UNAVAILABLE), the watcher falling behind (RESOURCE_EXHAUSTED), a lost connection. Anything
 * else (a bad service name, a refused credential, no islb there at all) ends the command.
 */
const RESUMABLE: ReadonlySet<Status> = new Set([
  Status.UNAVAILABLE,
  Status.RESOURCE_EXHAUSTED,
  Status.ABORTED,
  Status.CANCELLED,
  Status.DEADLINE_EXCEEDED,
]);

/** Prints changes until `signal`; resumes from the last revision seen when an established watch breaks off. */
export async function printWatch(
  nc: NatsConnection,
  service: string,
  from: number,
  asJson: boolean,
  signal: AbortSignal,
  opts: { prefix?: string; nid?: string; events?: WatchEvents },
): Promise<void> {
  const client = createClient(ISLBDefinition, nc, { prefix: opts.prefix, nid: opts.nid });
  let last = from;
  let established = false;
  for (;;) {
    try {
      for await (const e of client.watch(
        { service, fromRevision: last, events: opts.events ?? WatchEvents.WATCH_EVENTS_UNSPECIFIED },
        { signal },
      )) {
        established = true;
        if (e.type !== WatchEvent_Type.TYPE_SYNCED || !asJson)
          process.stdout.write(`${asJson ? json(e) : eventLine(e)}\n`);
        if (e.revision > last) last = e.revision;
      }
      return;
    } catch (e) {
      if (signal.aborted) return;
      if (!established || !(e instanceof ClientError) || !RESUMABLE.has(e.code)) throw e;
      process.stderr.write(`watch interrupted (${e.message}); resuming from revision ${last}\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
