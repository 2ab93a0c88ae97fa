/**
 * A store connection's errors, logged once when it becomes unreachable, then with doubling gaps
 * (5 s, 10 s, ... up to 5 min) while it stays so, and once when it is back: a store that is
 * down for an hour writes a dozen lines, not thousands.
 */
import type { Logger } from "../log.js";

/** First reminder while Redis stays unreachable, and the longest gap between reminders. */
const REMIND_FIRST_MS = 5000;
const REMIND_MAX_MS = 300_000;

/** Logs a connection's errors once per change of state, then with doubling gaps while it lasts. */
export class ConnectionLog {
  private down = false;
  private nextAt = 0;
  private gap = REMIND_FIRST_MS;
  private suppressed = 0;
  /** The last error seen (named in a failed start). */
  last: unknown;

  constructor(
    private readonly log: Logger,
    private readonly store: string,
    private readonly where: string,
  ) {}

  error(err: unknown): void {
    this.last = err;
    const now = Date.now();
    const message = err instanceof Error ? err.message : String(err);
    if (!this.down) {
      this.down = true;
      this.nextAt = now + this.gap;
      this.log.warn({ store: this.store, at: this.where, err: message }, `${this.store} store unreachable`);
      return;
    }
    if (now < this.nextAt) {
      this.suppressed++;
      return;
    }
    this.log.warn(
      { store: this.store, at: this.where, err: message, repeated: this.suppressed },
      `${this.store} store still unreachable`,
    );
    this.suppressed = 0;
    this.gap = Math.min(REMIND_MAX_MS, this.gap * 2);
    this.nextAt = now + this.gap;
  }

  ready(): void {
    if (!this.down) return;
    this.down = false;
    this.gap = REMIND_FIRST_MS;
    this.suppressed = 0;
    this.log.info({ store: this.store, at: this.where }, `${this.store} store reachable again`);
  }
}
