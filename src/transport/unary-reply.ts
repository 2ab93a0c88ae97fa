/** The reply of a unary call in one message: status, metadata and payload as NATS headers and body. */
import { headers as natsHeaders } from "nats";
import {
  CONTENT_TYPE,
  H,
  OK_JSON,
  OK_PROTO,
  encodeMessage,
  isEmpty,
  writeHeaders,
  type Metadata,
} from "../metadata.js";
import { Status, serverStatusOf, statusName, type StatusInfo } from "../status.js";
import type { ServerCore } from "./server-core.js";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Sends a unary reply: status in `grpc-status` / `grpc-message`, header metadata as headers,
 * trailer metadata under `grpc-trailer-`. A JSON error reply also carries the status as a
 * JSON body. Never throws.
 */
export function sendReply(
  core: ServerCore,
  reply: string,
  status: StatusInfo,
  data: Uint8Array | undefined,
  json: boolean,
  header?: Metadata,
  trailer?: Metadata,
  path = "",
): void {
  const plain =
    status.code === Status.OK &&
    (header === undefined || isEmpty(header)) &&
    (trailer === undefined || isEmpty(trailer));
  if (plain) {
    try {
      core.publish(reply, data ?? EMPTY, { headers: json ? OK_JSON : OK_PROTO });
      return;
    } catch {
      // fall through: the general path reports it
    }
  }
  const h = natsHeaders();
  h.set(H.status, String(status.code));
  if (status.code !== Status.OK) h.set(H.message, encodeMessage(status.message));
  if (json) h.set(H.contentType, CONTENT_TYPE.json);
  try {
    writeHeaders(header, h);
    writeHeaders(trailer, h, H.trailerPrefix);
  } catch (e) {
    core.options.logger.error({ err: e, method: path }, "handler set invalid metadata");
  }
  let body = data ?? EMPTY;
  if (data === undefined && json && status.code !== Status.OK) {
    body = encoder.encode(
      JSON.stringify({ code: status.code, status: statusName(status.code), message: status.message }),
    );
  }
  try {
    core.publish(reply, body, { headers: h });
  } catch (e) {
    const st = serverStatusOf(e);
    if (st.code === Status.RESOURCE_EXHAUSTED && data !== undefined) {
      sendReply(core, reply, st, undefined, json, undefined, undefined, path);
    } else {
      core.options.logger.warn({ err: e, method: path }, "could not send a reply");
    }
  }
}
