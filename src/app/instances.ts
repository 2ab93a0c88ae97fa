/** The islb instances serving on the bus now, from NATS micro discovery (`$SRV.PING.islb`), for the cluster page. */
import { RequestStrategy, type NatsConnection } from "nats";
import type { InstanceJson } from "../http/events.js";

/** Every islb instance that answers a micro PING within `maxWaitMs`, this one marked. */
export async function islbInstances(nc: NatsConnection, self: string, maxWaitMs = 500): Promise<InstanceJson[]> {
  const out: InstanceJson[] = [];
  const replies = await nc.services.client({ strategy: RequestStrategy.Timer, maxWait: maxWaitMs }).ping("islb");
  for await (const r of replies)
    out.push({
      nid: r.id,
      version: r.version,
      dc: (r.metadata as Record<string, string> | undefined)?.dc,
      self: r.id === self,
    });
  return out.sort((a, b) => (a.nid < b.nid ? -1 : 1));
}
