/** What the protocol handlers need from the gateway, kept apart from server.ts to avoid import cycles. */
import type { IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import type { Status } from "../index.js";
import type { Bridge } from "./bridge.js";
import type { JsonCodecs } from "./json.js";
import type { Route } from "./route.js";

/** The gateway as its protocol handlers see it. */
export interface GatewayCore {
  readonly bridge: Bridge;
  /** The largest request or response message, in bytes. */
  readonly maxMessageBytes: number;
  /** Headers the gateway itself consumes (never passed on as metadata). */
  readonly consumedHeaders: ReadonlySet<string>;
  /** Responses of at least this many bytes are compressed when the client accepts it; undefined: never. */
  readonly compressMinBytes: number | undefined;
  /** Schemas for JSON (Connect's JSON format); without, JSON is refused. */
  readonly json?: JsonCodecs;
  /** Undefined when the call may go on; else the status to refuse it with. */
  admit(route: Route, headers: IncomingHttpHeaders, socket?: Socket): { code: Status; message: string } | undefined;
}
