/** What the client's call code needs, kept apart from client.ts to avoid import cycles. */
import type { NatsConnection, MsgHdrs } from "nats";
import { Status, clientError } from "../status.js";
import type { DeadlineWheel } from "./deadline-wheel.js";
import type { KeepaliveTicker } from "./keepalive.js";
import type { InboxMux } from "./mux.js";
import type { ResolvedClientOptions } from "./options.js";

export type { ClientOptions, ResolvedClientOptions } from "./options.js";

export interface ClientCore {
  readonly nc: NatsConnection;
  readonly mux: InboxMux;
  /** The connection's keep-alive ticker of native streams. */
  readonly keepalive: KeepaliveTicker;
  /** The connection's wheel of unary deadlines. */
  readonly deadlines: DeadlineWheel;
  readonly options: ResolvedClientOptions;
  /** Publishes; maps NATS's own refusals to status errors of the call `path`. */
  publish(path: string, subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }): void;
  /** Publishes in the connection's outbox (frames of calls: batched, in order); size is checked at once. */
  queue(
    path: string,
    subject: string,
    data: Uint8Array,
    opts: { reply?: string; headers?: MsgHdrs },
    onError: (err: unknown) => void,
  ): void;
  /** Publishes what the outbox holds now (before a frame that must leave at once). */
  flush(): void;
}

export { clientError };

/** Publishes for a call, turning NATS's errors into the call's status errors. */
export function publishFor(
  nc: NatsConnection,
  maxPayload: number,
  path: string,
  subject: string,
  data: Uint8Array,
  opts?: { reply?: string; headers?: MsgHdrs },
): void {
  if (data.length > maxPayload)
    throw clientError(
      path,
      Status.RESOURCE_EXHAUSTED,
      `message of ${data.length} bytes is over the NATS max_payload of ${maxPayload}`,
    );
  try {
    nc.publish(subject, data, opts);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "MAX_PAYLOAD_EXCEEDED")
      throw clientError(
        path,
        Status.RESOURCE_EXHAUSTED,
        `message of ${data.length} bytes and its headers are over the NATS max_payload of ${maxPayload}`,
      );
    if (code === "CONNECTION_CLOSED" || code === "CONNECTION_DRAINING")
      throw clientError(path, Status.UNAVAILABLE, `the NATS connection is closed (${code})`);
    throw clientError(path, Status.INTERNAL, `cannot publish to ${subject}: ${(e as Error).message}`, e);
  }
}
