/** The services the gateway answers itself, added to its options: health (and reflection, reflection.ts). */
import type { NatsConnection } from "nats";
import { Access } from "./access.js";
import type { LocalHandler } from "./bridge.js";
import { ConnectionHealth, healthHandlers } from "./health.js";
import type { GatewayOptions } from "./server.js";

/** `options` with the gateway's own health service. */
export function withOwnServices(nc: NatsConnection, options: GatewayOptions): GatewayOptions {
  const access = new Access(options);
  const local = new Map<string, LocalHandler>(options.local ?? []);
  for (const [k, v] of healthHandlers(new ConnectionHealth(nc), access)) local.set(k, v);
  return { ...options, local };
}
