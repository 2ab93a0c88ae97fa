/**
 * The payloads of unary calls in one message: which encoding a request is in, decoding it
 * (binary, or JSON through the server's JsonCodec or ts-proto's fromJSON), and encoding the
 * response in the request's encoding.
 */
import type { MsgHdrs } from "nats";
import { CONTENT_TYPE, H } from "../metadata.js";
import { Status, serverError } from "../status.js";
import { encodeProto } from "../wire/encode.js";
import { decodeProto } from "../wire/reader.js";
import type { ServedMethod } from "./invoke.js";
import type { ServerCore } from "./server-core.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** How the payload of a unary request is encoded, from its content-type (undefined: unsupported). */
export function unaryEncoding(h: MsgHdrs | undefined, looksJson: boolean): "json" | "proto" | undefined {
  const ct = h?.get(H.contentType) ?? "";
  if (ct === "") return looksJson ? "json" : "proto";
  const base = (ct.split(";")[0] as string).trim().toLowerCase();
  if (base === CONTENT_TYPE.proto || base === CONTENT_TYPE.grpc) return "proto";
  if (base === CONTENT_TYPE.json || base === CONTENT_TYPE.grpcJson) return "json";
  return undefined;
}

/** Decodes a unary request; throws a ServerError (INTERNAL for bad binary, INVALID_ARGUMENT for bad JSON). */
export function decodeUnaryRequest(core: ServerCore, method: ServedMethod, data: Uint8Array, json: boolean): unknown {
  const type = method.definition.requestType;
  const codec = core.options.json;
  if (json && codec?.knows(method.path) === true) {
    let text: string;
    try {
      text = utf8.decode(data).trim();
    } catch {
      throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} is not valid UTF-8`);
    }
    if (text !== "" && !text.startsWith("{"))
      throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} must be a JSON object`);
    let bytes: Uint8Array;
    try {
      bytes = codec.requestFromJson(method.path, text === "" ? "{}" : text);
    } catch (e) {
      throw serverError(
        Status.INVALID_ARGUMENT,
        `the request of ${method.path} is not valid: ${(e as Error).message}`,
        e,
      );
    }
    return type.decode(bytes);
  }
  if (!json) {
    try {
      return decodeProto(type, data);
    } catch (e) {
      throw serverError(Status.INTERNAL, `cannot decode the request of ${method.path}: ${(e as Error).message}`, e);
    }
  }
  let value: unknown;
  try {
    const text = utf8.decode(data).trim();
    value = text === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw serverError(
      Status.INVALID_ARGUMENT,
      `the request of ${method.path} is not valid JSON: ${(e as Error).message}`,
      e,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw serverError(Status.INVALID_ARGUMENT, `the request of ${method.path} must be a JSON object`);
  }
  try {
    return type.fromJSON(value);
  } catch (e) {
    throw serverError(
      Status.INVALID_ARGUMENT,
      `invalid field value in the request of ${method.path}: ${(e as Error).message}`,
      e,
    );
  }
}

/** Encodes a unary response in the request's encoding. */
export function encodeUnaryResponse(
  core: ServerCore,
  method: ServedMethod,
  response: unknown,
  json: boolean,
): Uint8Array {
  const type = method.definition.responseType;
  const codec = core.options.json;
  if (!json) return encodeProto(type, response);
  if (codec?.knows(method.path) === true)
    return encoder.encode(codec.responseToJson(method.path, encodeProto(type, response)));
  return encoder.encode(JSON.stringify(type.toJSON(type.fromPartial(response as never))));
}
