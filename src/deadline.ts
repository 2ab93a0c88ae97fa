/** gRPC's `grpc-timeout` header format: up to 8 digits and a unit (H, M, S, m, u, n). */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const MAX_DIGITS = 99_999_999;

/** Encodes a timeout in milliseconds, keeping as much precision as 8 digits allow. */
export function encodeTimeout(ms: number): string {
  const t = Math.max(0, ms);
  if (t * 1000 <= MAX_DIGITS && !Number.isInteger(t)) return `${Math.ceil(t * 1000)}u`;
  if (t <= MAX_DIGITS) return `${Math.ceil(t)}m`;
  if (t / 1000 <= MAX_DIGITS) return `${Math.ceil(t / 1000)}S`;
  if (t / 60_000 <= MAX_DIGITS) return `${Math.ceil(t / 60_000)}M`;
  return `${Math.min(MAX_DIGITS, Math.ceil(t / 3_600_000))}H`;
}

/** Parses a `grpc-timeout` value to milliseconds; undefined when it is malformed. */
export function parseTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/**
 * Milliseconds left until a deadline: a Date, or a number of milliseconds from now (the
 * meaning nice-grpc and its deadline middleware give a number).
 */
export function msUntil(deadline: Date | number, now?: number): number {
  return typeof deadline === "number" ? deadline : deadline.getTime() - (now ?? Date.now());
}

/** The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A deadline armed as a timer: `onExpire` runs once when it passes, unless `cleanup` ran first.
 * Deadlines further away than a timer can wait (MAX_TIMER_MS) wait in steps, so a 30-day
 * deadline fires after 30 days and not at once (grpc-js clamps the same way). The `signal`,
 * made on first use, aborts at the deadline, for handlers and helpers that take one. A timer
 * that Node runs before the deadline's millisecond waits again for what is left.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private expired = false;
  private readonly at: number;

  /** @param ms milliseconds from now (0 or less: at the next turn of the event loop). */
  constructor(
    readonly ms: number,
    private readonly onExpire?: () => void,
  ) {
    this.at = Date.now() + ms;
    this.arm(ms);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  }

  private readonly fire = (): void => {
    const left = this.at - Date.now();
    if (left > 0) return this.arm(left);
    this.timer = undefined;
    this.expired = true;
    this.controller?.abort();
    this.onExpire?.();
  };

  /** Aborted when the deadline passes (made when first asked for). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.expired) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** Stops the timer (the call ended before its deadline). */
  cleanup(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Arms `deadline` (milliseconds from now); `onExpire` runs when it passes. Call `cleanup()` when done. */
export function createDeadline(ms: number, onExpire?: () => void): DeadlineTimer {
  return new DeadlineTimer(ms, onExpire);
}
