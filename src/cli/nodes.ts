/** `islb nodes` and `islb watch`: the registry's nodes, read through Watch. */
import type { NatsConnection } from "nats";
import {
  ISLBDefinition,
  WatchEvent_Type,
  WatchEvents,
  type NodeInfo,
  type WatchEvent,
} from "../../generated/islb/islb.js";
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
  for (;;) {
    try {
      for await (const e of client.watch(
        { service, fromRevision: last, events: opts.events ?? WatchEvents.WATCH_EVENTS_UNSPECIFIED },
        { signal },
      )) {
        if (e.type !== WatchEvent_Type.TYPE_SYNCED || !asJson)
          process.stdout.write(`${asJson ? json(e) : eventLine(e)}\n`);
        if (e.revision > last) last = e.revision;
      }
      return;
    } catch (e) {
      if (signal.aborted) return;
      process.stderr.write(`watch interrupted (${(e as Error).message}); resuming from revision ${last}\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
