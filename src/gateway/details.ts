/**
 * Rich error details (`grpc-status-details-bin`: a binary `google.rpc.Status` in the trailers,
 * as gRPC and nice-grpc-error-details carry them) for Connect, whose errors carry them as
 * `details: [{type, value}]` in the error JSON (connectrpc.com/docs/protocol#error-end-stream).
 * gRPC and gRPC-Web pass the trailer as it is.
 */
import { STATUS_DETAILS_KEY } from "../metadata.js";
import { Metadata } from "../index.js";
import { Status as StatusMessage } from "../../generated/nrpc/nrpc.js";

export { STATUS_DETAILS_KEY };

/** One detail of a Connect error: the message's full name and its bytes, base64 (unpadded, as connect-es writes it). */
export interface ConnectDetail {
  type: string;
  value: string;
}

/**
 * The details a trailer carries, as Connect writes them, and the trailer without the key (it
 * goes in the error, not as metadata). A value that is not a `google.rpc.Status` gives no details.
 */
export function splitDetails(trailer: Metadata): { details: ConnectDetail[]; rest: Metadata } {
  const raw = trailer.get(STATUS_DETAILS_KEY);
  if (raw === undefined) return { details: [], rest: trailer };
  const rest = Metadata();
  for (const [k, values] of trailer) if (k !== STATUS_DETAILS_KEY) for (const v of values) rest.append(k, v as never);
  let details: ConnectDetail[] = [];
  try {
    details = StatusMessage.decode(raw as Uint8Array).details.map((a) => ({
      type: a.typeUrl.slice(a.typeUrl.lastIndexOf("/") + 1),
      value: Buffer.from(a.value).toString("base64").replace(/=+$/, ""),
    }));
  } catch {
    details = [];
  }
  return { details, rest };
}
