/**
 * gRPC metadata on the wire: as NATS headers (native unary calls) and as the `Metadata`
 * message of the frames (streams and nats-grpc compat). Keys are lower-case; values of keys
 * ending in `-bin` are bytes, carried base64-encoded as in gRPC. Metadata is a Map inside,
 * so no key from the wire (`__proto__` included) can reach an object prototype.
 */
import type { Metadata as MetadataType, MetadataInit, MetadataValue } from "nice-grpc-common";
import { headers as natsHeaders, type MsgHdrs } from "nats";
import type { Metadata as FrameMetadata, Strings } from "../generated/nrpc/nrpc.js";
/**
 * Metadata that cannot travel (a key that is not a gRPC key, a text value that is not
 * printable ASCII). Not a status: the side that meets it turns it into its own status error
 * (ServerError on a server, ClientError on a client), keeping it as the cause.
 */
export class MetadataError extends Error {
  override readonly name = "MetadataError";
}
import { headerBlockIs } from "./wire/raw-msg.js";

/** gRPC metadata: nice-grpc's Metadata type. */
export type Metadata = MetadataType;

const KEY_CHARS = /^[0-9a-z_.-]+$/;

function normalizeKey(key: string): string {
  const k = key.toLowerCase();
  if (!KEY_CHARS.test(k)) throw new Error(`Metadata key '${key}' contains illegal characters`);
  return k;
}

function checkValue(key: string, value: unknown): void {
  if (key.endsWith("-bin")) {
    if (!(value instanceof Uint8Array))
      throw new Error(`Metadata key '${key}' ends with '-bin', thus it must have binary value`);
  } else if (typeof value !== "string") {
    throw new Error(`Metadata key '${key}' doesn't end with '-bin', thus it must have string value`);
  }
}

/**
 * nice-grpc's Metadata interface, keeping every value of a key apart (nice-grpc-common's own
 * joins string values with ", "), so multi-valued metadata crosses to and from Go peers as
 * it was. `get` still returns the joined string, as nice-grpc's does.
 */
class MetadataMap implements MetadataType {
  private readonly data = new Map<string, Array<string | Uint8Array>>();

  set<Key extends string>(key: Key, value: MetadataValue<Key> | Array<MetadataValue<Key>>): MetadataType {
    const k = normalizeKey(key);
    const values = Array.isArray(value) ? [...value] : [value];
    for (const v of values) checkValue(k, v);
    this.data.set(k, values);
    return this;
  }

  append<Key extends string>(key: Key, value: MetadataValue<Key>): MetadataType {
    const k = normalizeKey(key);
    checkValue(k, value);
    const values = this.data.get(k);
    if (values === undefined) this.data.set(k, [value]);
    else values.push(value);
    return this;
  }

  delete(key: string): void {
    this.data.delete(normalizeKey(key));
  }

  get<Key extends string>(key: Key): MetadataValue<Key> | undefined {
    const k = normalizeKey(key);
    const values = this.data.get(k);
    if (values === undefined || values.length === 0) return undefined;
    return (k.endsWith("-bin") ? values[0] : values.join(", ")) as MetadataValue<Key>;
  }

  getAll<Key extends string>(key: Key): Array<MetadataValue<Key>> {
    return [...(this.data.get(normalizeKey(key)) ?? [])] as Array<MetadataValue<Key>>;
  }

  has(key: string): boolean {
    return this.data.has(normalizeKey(key));
  }

  [Symbol.iterator](): IterableIterator<[string, Array<string | Uint8Array>]> {
    return this.data[Symbol.iterator]();
  }
}

/** New metadata, optionally filled from a record, an iterable of pairs, or other metadata. */
export function Metadata(init?: MetadataInit): Metadata {
  const md = new MetadataMap();
  if (init === undefined) return md;
  const entries =
    Symbol.iterator in init
      ? (init as Iterable<[string, string | Uint8Array | Array<string | Uint8Array>]>)
      : Object.entries(init);
  for (const [k, v] of entries) {
    if (Array.isArray(v)) for (const x of v) md.append(k, x as never);
    else md.append(k, v as never);
  }
  return md;
}

/** Header names of the native protocol (docs/PROTOCOL.md). */
export const H = {
  contentType: "content-type",
  timeout: "grpc-timeout",
  status: "grpc-status",
  message: "grpc-message",
  /** Prefix of trailer metadata in a unary reply (header metadata goes unprefixed). */
  trailerPrefix: "grpc-trailer-",
} as const;

/** Content types a unary request may name. */
export const CONTENT_TYPE = {
  proto: "application/grpc+proto",
  grpc: "application/grpc",
  json: "application/json",
  grpcJson: "application/grpc+json",
} as const;

const KEY = /^[0-9a-z_.-]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

function checkKey(key: string): void {
  if (!KEY.test(key)) throw new MetadataError(`metadata key ${JSON.stringify(key)} is not a valid gRPC metadata key`);
}

function textValue(key: string, value: string | Uint8Array): string {
  if (key.endsWith("-bin")) return Buffer.from(value as Uint8Array).toString("base64");
  if (typeof value !== "string" || !PRINTABLE.test(value)) {
    throw new MetadataError(
      `metadata value of ${JSON.stringify(key)} must be printable ASCII (use a -bin key for bytes)`,
    );
  }
  return value;
}

function valueOf(key: string, text: string): string | Uint8Array {
  return key.endsWith("-bin") ? new Uint8Array(Buffer.from(text, "base64")) : text;
}

/**
 * gRPC's rich error details (a `google.rpc.Status`, binary): the one `grpc-` key that passes as
 * metadata, in trailers, as gRPC and nice-grpc-error-details carry it.
 */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** True for keys the transport owns, which never pass through as user metadata. */
export function isReservedKey(key: string): boolean {
  return (key.startsWith("grpc-") && key !== STATUS_DETAILS_KEY) || key === H.contentType;
}

/** Appends metadata to NATS headers, each key under `prefix` (none by default). */
export function writeHeaders(md: Metadata | undefined, h: MsgHdrs, prefix = ""): void {
  if (md === undefined) return;
  for (const [key, values] of md) {
    checkKey(key);
    if (isReservedKey(key)) continue;
    for (const v of values) h.append(prefix + key, textValue(key, v));
  }
}

/**
 * NATS headers that never change, encoded once: nats.js calls only `encode()` when it
 * publishes, so the common header sets cost nothing per message. Never mutate the result.
 */
export function constantHeaders(entries: Record<string, string>): MsgHdrs {
  const h = natsHeaders() as MsgHdrs & { encode(): Uint8Array };
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  const bytes = h.encode();
  h.encode = () => bytes;
  return Object.freeze(h);
}

/** A binary request with no metadata and no deadline: the common request. */
export const PLAIN_REQUEST = constantHeaders({ [H.contentType]: CONTENT_TYPE.proto });
/** A binary reply, OK, with no metadata: the common reply. */
export const OK_PROTO = constantHeaders({ [H.status]: "0" });
/** A JSON reply, OK, with no metadata. */
export const OK_JSON = constantHeaders({ [H.status]: "0", [H.contentType]: CONTENT_TYPE.json });

const PLAIN_REQUEST_BYTES = (PLAIN_REQUEST as unknown as { encode(): Uint8Array }).encode();
const OK_PROTO_BYTES = (OK_PROTO as unknown as { encode(): Uint8Array }).encode();

/** True when a message's headers are exactly PLAIN_REQUEST's (so parsing them can be skipped). */
export function isPlainRequest(msg: unknown): boolean {
  return headerBlockIs(msg, PLAIN_REQUEST_BYTES);
}

/** True when a message's headers are exactly OK_PROTO's. */
export function isPlainOk(msg: unknown): boolean {
  return headerBlockIs(msg, OK_PROTO_BYTES);
}

/**
 * Reads metadata from NATS headers: keys lower-cased; reserved keys skipped. With `prefix`,
 * only keys under it (the prefix removed); without, keys under `H.trailerPrefix` are skipped.
 */
export function readHeaders(h: MsgHdrs | undefined, prefix?: string): Metadata {
  const md = Metadata();
  if (h === undefined) return md;
  for (const raw of h.keys()) {
    let key = raw.toLowerCase();
    if (prefix !== undefined) {
      if (!key.startsWith(prefix)) continue;
      key = key.slice(prefix.length);
    }
    if (!KEY.test(key) || isReservedKey(key)) continue;
    for (const v of h.values(raw)) md.append(key, valueOf(key, v) as never);
  }
  return md;
}

/** Metadata as the frames' `Metadata` message, or undefined when empty. */
export function toFrameMetadata(md: Metadata | undefined): FrameMetadata | undefined {
  if (md === undefined) return undefined;
  const out = new Map<string, Strings>();
  for (const [key, values] of md) {
    checkKey(key);
    if (isReservedKey(key)) continue;
    out.set(key, { values: values.map((v) => textValue(key, v)) });
  }
  return out.size === 0 ? undefined : { md: out };
}

/** Metadata from a frame's `Metadata` message (invalid keys are dropped). */
export function fromFrameMetadata(fm: FrameMetadata | undefined): Metadata {
  const md = Metadata();
  if (fm === undefined) return md;
  for (const [raw, strings] of fm.md) {
    const key = raw.toLowerCase();
    if (!KEY.test(key) || isReservedKey(key)) continue;
    for (const v of strings.values) md.append(key, valueOf(key, v) as never);
  }
  return md;
}

/** True when metadata has no entries. */
export function isEmpty(md: Metadata): boolean {
  return md[Symbol.iterator]().next().done === true;
}

/** Percent-encodes a status message as gRPC does for `grpc-message`. */
export function encodeMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

/** Decodes a percent-encoded `grpc-message` (malformed escapes are kept as they are). */
export function decodeMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(value[i] as string, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
