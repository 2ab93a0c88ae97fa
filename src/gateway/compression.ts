/**
 * Compressed request messages (gzip, deflate), as gRPC, gRPC-Web and Connect clients may
 * send them: inflated with a cap on the output, so a small bomb cannot become a large
 * message. Responses are never compressed (the gateway passes the service's bytes as they are).
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { Status } from "../index.js";
import { FramingError } from "./framing.js";

/** What the gateway can inflate, as it advertises it (`grpc-accept-encoding`). */
export const ACCEPT_ENCODING = "identity,gzip,deflate";

/** The compressions a request may use. */
export type Encoding = "gzip" | "deflate";

/** The encoding a request names, or a reason it cannot be read; undefined means identity. */
export function encodingOf(value: string | undefined): Encoding | undefined | { problem: string } {
  if (value === undefined || value === "" || value === "identity") return undefined;
  if (value === "gzip" || value === "deflate") return value;
  return {
    problem: `message encoding ${JSON.stringify(value)} is not supported (the gateway takes ${ACCEPT_ENCODING})`,
  };
}

/** Inflates one message, refusing one that would be over `max` bytes. */
export function inflate(encoding: Encoding | undefined, message: Uint8Array, max: number): Uint8Array {
  if (encoding === undefined)
    throw new FramingError(Status.INTERNAL, "a compressed message in a request that names no encoding (grpc-encoding)");
  try {
    return (encoding === "gzip" ? gunzipSync : inflateSync)(message, { maxOutputLength: max });
  } catch (e) {
    if (e instanceof RangeError || (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new FramingError(
        Status.RESOURCE_EXHAUSTED,
        `a compressed request message inflates to more than ${max} bytes`,
      );
    }
    throw new FramingError(Status.INTERNAL, `cannot inflate a ${encoding} request message: ${(e as Error).message}`);
  }
}
