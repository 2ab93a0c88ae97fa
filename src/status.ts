/**
 * Status codes and the errors that carry them. The classes are nice-grpc-common's, so
 * middleware written for nice-grpc (retry, deadline, metrics) recognises our errors.
 */
import { ClientError, ServerError, Status } from "nice-grpc-common";
import { isAbortError } from "abort-controller-x";

export { ClientError, ServerError, Status };

/** A status code and its message, as it travels on the wire. */
export interface StatusInfo {
  /** The gRPC status code. */
  code: Status;
  /** A message for people; empty for OK. */
  message: string;
}

const NAMES: readonly string[] = Object.freeze(Array.from({ length: 17 }, (_, code) => Status[code] as string));

/** The canonical name of a code ("INVALID_ARGUMENT"), or "CODE_<n>" for unknown numbers. */
export function statusName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

/** The code with this canonical name (case-insensitive), or undefined. */
export function statusFromName(name: string): Status | undefined {
  const i = NAMES.indexOf(name.toUpperCase());
  return i < 0 ? undefined : (i as Status);
}

/** Clamps a number read from the wire to a known code (anything else is UNKNOWN). */
export function toStatusCode(code: unknown): Status {
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16
    ? (code as Status)
    : Status.UNKNOWN;
}

/** `err` with its `cause` set (nice-grpc-common's error classes take no options). */
export function withCause<E extends Error>(err: E, cause: unknown): E {
  if (cause !== undefined)
    Object.defineProperty(err, "cause", { value: cause, enumerable: false, writable: true, configurable: true });
  return err;
}

/**
 * The one error a server throws for a status (the transport's own checks included), with
 * what caused it kept as `cause`. On the client side the same role is ClientError's.
 */
export function serverError(code: Status, message: string, cause?: unknown): ServerError {
  return withCause(new ServerError(code, message), cause);
}

/** The client's error for a status of the call `path`, with `cause` kept. */
export function clientError(path: string, code: Status, message: string, cause?: unknown): ClientError {
  return withCause(new ClientError(path, code, message), cause);
}

/** Shorthand for throwing a status from a handler or from our own checks. */
export function fail(code: Status, message: string): never {
  throw new ServerError(code, message);
}

/**
 * What a server sends for an error thrown by a handler. ServerError keeps its code and
 * message; an abort is CANCELLED; anything else is UNKNOWN with a generic message (the
 * error itself is logged by the caller, never sent: it may hold internals).
 */
export function serverStatusOf(err: unknown): StatusInfo & { unexpected: boolean } {
  if (err instanceof ServerError) return { code: err.code, message: err.details, unexpected: false };
  if (isAbortError(err)) return { code: Status.CANCELLED, message: "The operation was cancelled", unexpected: false };
  return { code: Status.UNKNOWN, message: "Unknown server error occurred", unexpected: true };
}
