/** What a node agent's start-up can fail with, and which failures are worth retrying. */
import { ClientError, Status, statusName } from "../status.js";

/** `NodeAgent.start()` failed: no islb answered in time, the start was aborted, or islb refused the registration. */
export class AgentStartError extends Error {
  override readonly name = "AgentStartError";

  /**
   * @param message what went wrong, for people
   * @param code the gRPC status of the last attempt (UNAVAILABLE when nothing answered, CANCELLED when aborted)
   * @param cause the last attempt's error
   */
  constructor(
    message: string,
    readonly code: Status,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

/** The status of a failed attempt (UNKNOWN for errors that are not a gRPC status). */
export function statusOf(e: unknown): Status {
  return e instanceof ClientError ? e.code : Status.UNKNOWN;
}

/** Statuses that mean "no islb answered (yet)": worth trying again; anything else is islb refusing, and final. */
const TRANSIENT: ReadonlySet<Status> = new Set([
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.ABORTED,
  Status.RESOURCE_EXHAUSTED,
  Status.INTERNAL,
  Status.UNKNOWN,
  Status.CANCELLED,
]);

/** True when a failed registration may succeed later (nothing answered, a timeout, a lost connection). */
export function isTransient(e: unknown): boolean {
  return TRANSIENT.has(statusOf(e));
}

/** "UNAVAILABLE: no responders …" for a log line or an error message. */
export function describeFailure(e: unknown): string {
  if (e instanceof ClientError) return `${statusName(e.code)}: ${e.details}`;
  return e instanceof Error ? e.message : String(e);
}
