/** The gateway's public surface: stock gRPC, gRPC-Web and Connect clients to the services on the bus (docs/GATEWAY.md). */
import type { NatsConnection } from "nats";
import { withOwnServices } from "./own.js";
import { Gateway, type GatewayOptions } from "./server.js";

export { Gateway, type GatewayOptions } from "./server.js";
export type { BridgeStats } from "./bridge.js";
export type { ListenerTls } from "./listener.js";
export { NID_KEY } from "./headers.js";
export { withOwnServices } from "./own.js";

/** A gateway on `nc` with its own health and reflection services and JSON schemas from the bus; then `listen(port, host)`. */
export function createGateway(nc: NatsConnection, options: GatewayOptions = {}): Gateway {
  return new Gateway(nc, withOwnServices(nc, options));
}
