/**
 * Batches publishes until the current macrotask ends. nats.js flushes its socket buffer in a
 * microtask queued by the first publish, so a producer that awaits between messages (an
 * async generator) pays one socket write per message; queued here, the messages a stream
 * produces within one turn of the event loop leave in one write (or in writes of BATCH
 * frames, so that the peer works on the first while the rest are made).
 */
import type { MsgHdrs, NatsConnection } from "nats";
import { perConnection } from "./per-connection.js";

interface Pending {
  subject: string;
  data: Uint8Array;
  opts: { reply?: string; headers?: MsgHdrs } | undefined;
  onError: ((err: unknown) => void) | undefined;
}

/** Frames queued before they go out at once, so the peer can start on them while more are made. */
const BATCH = 64;

export class Outbox {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly nc: NatsConnection) {}

  /** Queues a publish; `onError` hears of a publish that NATS refused when the batch went out. */
  publish(
    subject: string,
    data: Uint8Array,
    opts?: { reply?: string; headers?: MsgHdrs },
    onError?: (err: unknown) => void,
  ): void {
    this.queue.push({ subject, data, opts, onError });
    if (this.queue.length >= BATCH) return this.flush();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurnEnd);
    }
  }

  private readonly onTurnEnd = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Publishes everything queued, in order. */
  readonly flush = (): void => {
    const q = this.queue;
    this.queue = [];
    for (const p of q) {
      try {
        this.nc.publish(p.subject, p.data, p.opts);
      } catch (e) {
        p.onError?.(e);
      }
    }
  };
}

/** The connection's shared outbox (one, so frames of every call keep their order). */
export const outboxFor = perConnection((nc) => new Outbox(nc));
