/**
 * The only place that builds NATS subject and queue-group names.
 *
 *   <prefix>.<pkg.Service>.<Method>         any instance (queue group <pkg.Service>)
 *   <prefix>.<nid>.<pkg.Service>.<Method>   the instance whose node id is <nid>
 *
 * This is the layout of the Go library nats-grpc, whose servers also use the service's full
 * name as queue group, so Go and TypeScript instances of one service share the load.
 */

/** The default subject prefix. */
export const DEFAULT_PREFIX = "nrpc";

/** One subject token: no dots, wildcards, whitespace or control characters. */
const TOKEN = /^[^.*>\s\x00-\x1f\x7f]+$/u;
/** Dotted names such as a prefix or a package-qualified service. */
const DOTTED = /^[^.*>\s\x00-\x1f\x7f]+(\.[^.*>\s\x00-\x1f\x7f]+)*$/u;

/** Why a value cannot be one subject token (a node id, a service name), or undefined if it can. */
export function tokenProblem(what: string, value: string, maxLength = 128): string | undefined {
  if (value.length === 0) return `${what} is empty`;
  if (value.length > maxLength) return `${what} is longer than ${maxLength} characters`;
  if (!TOKEN.test(value))
    return `${what} ${JSON.stringify(value)} must not contain '.', '*', '>', whitespace or control characters`;
  return undefined;
}

/** Why a dotted name (prefix, pkg.Service) cannot be used in subjects, or undefined. */
export function dottedProblem(what: string, value: string): string | undefined {
  if (!DOTTED.test(value))
    return `${what} ${JSON.stringify(value)} must be dot-separated tokens without '*', '>', whitespace or control characters`;
  return undefined;
}

/** The subject of one method, on any instance or on the node `nid`. */
export function methodSubject(prefix: string, service: string, method: string, nid?: string): string {
  return nid === undefined || nid === "" ? `${prefix}.${service}.${method}` : `${prefix}.${nid}.${service}.${method}`;
}

/** The wildcard a server subscribes to for a service on any instance. */
export function serviceWildcard(prefix: string, service: string): string {
  return `${prefix}.${service}.*`;
}

/** The queue group of a service (as in nats-grpc: the service's full name). */
export function serviceQueue(service: string): string {
  return service;
}

/** The wildcard a server subscribes to for every call addressed to its node id. */
export function nodeWildcard(prefix: string, nid: string): string {
  return `${prefix}.${nid}.>`;
}

/** The queue group of a node's own subjects (guards against two processes sharing one id). */
export function nodeQueue(prefix: string, nid: string): string {
  return `${prefix}.${nid}`;
}

/** NATS's default inbox prefix, used when a connection sets none. */
export const DEFAULT_INBOX = "_INBOX";

/**
 * The reply-subject prefix of one client (`<inbox>.<id>`), under the connection's configured
 * inbox prefix `inbox` (nats.js `inboxPrefix`, `_INBOX` by default), so NATS permissions can
 * give each user its own inbox space.
 */
export function inboxPrefix(inbox: string | undefined, id: string): string {
  return `${inbox || DEFAULT_INBOX}.${id}`;
}

/**
 * The per-call subject prefix of one server instance (`<inbox>.calls.<id>`): where peers of
 * its native streams publish their frames. Apart from the connection's reply inboxes (an id
 * is never `calls`), so permissions can let clients publish here (`_INBOX.*.calls.>` with
 * per-user prefixes `_INBOX.<user>`) and nowhere else in another user's inbox.
 */
export function callInboxPrefix(inbox: string | undefined, id: string): string {
  return `${inbox || DEFAULT_INBOX}.calls.${id}`;
}

/**
 * Splits `<service>.<Method>` (what follows the prefix, and the nid when there is one) into
 * its service and method; undefined when there is no dot.
 */
export function splitServiceMethod(rest: string): { service: string; method: string } | undefined {
  const dot = rest.lastIndexOf(".");
  if (dot <= 0 || dot === rest.length - 1) return undefined;
  return { service: rest.slice(0, dot), method: rest.slice(dot + 1) };
}

/** The gRPC path `/pkg.Service/Method`. */
export function methodPath(service: string, method: string): string {
  return `/${service}/${method}`;
}
