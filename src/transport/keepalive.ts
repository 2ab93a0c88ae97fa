/**
 * The keep-alive ticker of a connection's native client streams: one per NATS connection
 * (made on first use, stopped when the connection closes), so its timer is owned and ends
 * with what it serves instead of living in a module-global set.
 */
import type { NatsConnection } from "nats";
import { perConnection } from "./per-connection.js";

/** A call the ticker keeps alive. */
export interface Ticking {
  /** Pings when idle; fails the call when the peer has been silent too long. */
  tick(now: number): void;
}

/** Ticks the native streams of one connection every `everyMs` while there are any. */
export class KeepaliveTicker {
  private readonly calls = new Set<Ticking>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** @param everyMs how often the calls are ticked. */
  constructor(private readonly everyMs = 100) {}

  /** Starts ticking `call` (the timer runs while there is a call to tick). */
  add(call: Ticking): void {
    if (this.closed) return;
    this.calls.add(call);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.everyMs);
      this.timer.unref();
    }
  }

  delete(call: Ticking): void {
    this.calls.delete(call);
  }

  /** Calls being ticked. */
  get size(): number {
    return this.calls.size;
  }

  /** True while its timer runs. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const c of this.calls) c.tick(now);
    if (this.calls.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops for good (the connection closed). */
  close(): void {
    this.closed = true;
    this.calls.clear();
    this.stop();
  }
}

/** The connection's keep-alive ticker, closed with the connection. */
export const keepaliveFor = perConnection((nc: NatsConnection) => {
  const t = new KeepaliveTicker();
  void nc.closed().then(() => t.close());
  return t;
});
