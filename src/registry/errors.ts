/** Errors a store reports, independent of its backend. */

/**
 * The store cannot be reached (or did not answer in time): nothing was changed that the caller
 * can rely on, and the call may be retried. The message names the store and its address.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The store holds as many sessions or nodes as it is allowed to (a bound on what callers can
 * make it keep): nothing was added; the caller may retry once some have ended.
 */
export class StoreFullError extends Error {
  override readonly name = "StoreFullError";
}
