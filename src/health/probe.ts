/**
 * Watches whether a store answers, for health: one ping in flight at a time, a new one shortly
 * after each answer, and a ping unanswered past the timeout counts as "not answering" at once
 * (it does not wait for the ping to fail). A late answer counts as soon as it arrives, so a
 * store that comes back is reported back within moments.
 */

export interface ProbeOptions {
  /** Gap between an answer and the next ping (default 200 ms). */
  intervalMs?: number;
  /** A ping unanswered this long means the store is not answering (default 500 ms). */
  timeoutMs?: number;
}

/** How often the probe looks at its ping (bounds how late a change is noticed). */
const TICK_MS = 50;

/**
 * Starts probing with `ping` (resolves true when the store answers; may hang while it is
 * stalled); `onChange` hears each change of reachability (the first result too).
 */
export function probeStore(
  ping: () => Promise<boolean>,
  onChange: (reachable: boolean) => void,
  options: ProbeOptions = {},
): { stop(): void } {
  const intervalMs = options.intervalMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 500;
  let state: boolean | undefined;
  let inFlight = false;
  let sentAt = 0;
  let doneAt = -Infinity;
  let stopped = false;
  const set = (reachable: boolean): void => {
    if (stopped || state === reachable) return;
    state = reachable;
    onChange(reachable);
  };
  const tick = (): void => {
    const now = Date.now();
    if (inFlight) {
      if (now - sentAt > timeoutMs) set(false);
      return;
    }
    if (now - doneAt < intervalMs) return;
    inFlight = true;
    sentAt = now;
    ping()
      .then(
        (ok) => set(ok),
        () => set(false),
      )
      .finally(() => {
        inFlight = false;
        doneAt = Date.now();
      });
  };
  const timer = setInterval(tick, TICK_MS);
  timer.unref?.();
  tick();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
