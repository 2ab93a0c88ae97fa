/**
 * Connect's GET form of a unary call (connectrpc.com/docs/protocol#unary-get-request), which
 * Connect clients use for methods marked `idempotency_level = NO_SIDE_EFFECTS` (so browsers and
 * CDNs may cache them): the message in the query,
 * `?connect=v1&encoding=proto|json&message=<bytes>[&base64=1][&compression=gzip]`.
 */
import { Status } from "../index.js";
import { encodingOf, type Encoding } from "./compression.js";

/** What a GET request's query says. */
export interface ConnectGet {
  /** `encoding=json` (else proto). */
  json: boolean;
  /** `compression=`; undefined: identity. */
  compression: Encoding | undefined;
  /** The request message as sent (still compressed when `compression` says so). */
  message: Uint8Array;
}

/** Percent-decodes to bytes (`+` is a space, as in any query), so a binary message survives. */
function percentBytes(s: string): Uint8Array | undefined {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else if (c === 0x2b) out[n++] = 0x20;
    else if (c > 0x7e) return undefined;
    else out[n++] = c;
  }
  return out.subarray(0, n);
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The query of a GET request, read, or the status refusing it. */
export function parseConnectGet(path: string, max: number): ConnectGet | { code: Status; message: string } {
  const q = path.indexOf("?");
  const params = new Map<string, string>();
  for (const part of q < 0 ? [] : path.slice(q + 1).split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (params.has(key))
      return { code: Status.INVALID_ARGUMENT, message: `the query names ${JSON.stringify(key)} more than once` };
    params.set(key, eq < 0 ? "" : part.slice(eq + 1));
  }
  const bad = (message: string): { code: Status; message: string } => ({ code: Status.INVALID_ARGUMENT, message });
  const version = params.get("connect");
  if (version !== undefined && version !== "v1") return bad(`connect=${version}: this gateway speaks connect=v1`);
  const encoding = params.get("encoding");
  if (encoding !== "proto" && encoding !== "json")
    return bad(
      encoding === undefined
        ? "a Connect GET request names its encoding (encoding=proto or encoding=json)"
        : `encoding=${encoding} is not supported (proto or json)`,
    );
  const compression = encodingOf(params.get("compression"));
  if (typeof compression === "object") return { code: Status.UNIMPLEMENTED, message: compression.problem };
  const raw = params.get("message");
  if (raw === undefined) return bad("a Connect GET request carries its message in the query (message=)");
  let message: Uint8Array | undefined;
  const b64 = params.get("base64");
  if (b64 === "1") {
    const text = percentBytes(raw);
    const s = text === undefined ? undefined : Buffer.from(text).toString("latin1");
    if (s === undefined || !BASE64.test(s)) return bad("message= is not base64 (base64=1)");
    message = Buffer.from(s, "base64");
  } else if (b64 === undefined || b64 === "0") {
    message = percentBytes(raw);
    if (message === undefined) return bad("message= is not percent-encoded");
  } else return bad(`base64=${b64}: 1 or nothing`);
  if (message.length > max)
    return {
      code: Status.RESOURCE_EXHAUSTED,
      message: `request message of ${message.length} bytes is over the limit of ${max}`,
    };
  return { json: encoding === "json", compression, message };
}
