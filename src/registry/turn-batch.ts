/**
 * Requests that arrive in one turn of the event loop, sent together: `send` queues one, and
 * at the end of the turn (setImmediate) the queue goes to `run` in chunks of at most `max`,
 * each chunk one call that answers every request of it, in order (Redis runs the calls of
 * one connection in the order they were sent). At most `inFlight` calls run at once: while
 * they do, new requests wait and go together as soon as one answers. Under light load a
 * request goes at the end of its turn.
 *
 * A chunk does not wait for the end of the turn once `eager` requests wait: it goes at once,
 * and Redis runs it while this process takes the rest of the turn's requests (decoding,
 * checking, encoding each); what is left at the end of such a turn goes as one call. Redis
 * heartbeats (bench/service.js --store redis --kinds heartbeat, three rounds, pairs run back
 * to back on a noisy machine): eager chunks of 24 against none, 1.175× bare on average over
 * eight pairs against 1.09×, better in six; of 32, 1.15 against 1.12 over seven; of 16, 1.09
 * against 1.15 over three. As it is against the build before it, five pairs: heartbeats 1.18
 * against 1.14, new sessions 1.15 against 1.12 (each better in three and four of the five).
 *
 * Why chunks, and equal ones: Redis runs one chunk's script while this process answers the
 * calls of the chunk before it, where one call for the whole turn left each side waiting for
 * the other. Measured with bench/service.js (Redis store, three rounds each, ratios to bare
 * `nc.request`): at 64 in flight, new sessions 0.99–1.06 in one call of up to 256 or 64,
 * 1.10–1.16 in two of 32, 1.10–1.14 in chunks of 24, 16 or 8; load-only heartbeats 0.94–0.99,
 * 1.15–1.19 and 1.04–1.08. Equal chunks against chunks of at most 32: at 48 in flight 1.07 and
 * 0.99 against 1.00 and 0.94, at 100 in flight 1.15 and 1.11 against 1.09 and 1.07.
 */
export class TurnBatch<Q, A> {
  private pending: Array<{ q: Q; resolve(a: A): void; reject(e: unknown): void }> = [];
  private scheduled = false;
  private running = 0;
  /** A chunk of this turn went early: what is left at its end goes as one call. */
  private sentEarly = false;

  /**
   * @param run answers a chunk (one answer per request, in order).
   * @param max requests per call.
   * @param inFlight calls running at once (the others wait for one of them to answer).
   * @param eager requests that go at once, without waiting for the end of the turn, while a call may start.
   */
  constructor(
    private readonly run: (qs: Q[]) => Promise<A[]>,
    private readonly max = 64,
    private readonly inFlight = 16,
    private readonly eager = Math.min(24, max),
  ) {}

  send(q: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.pending.push({ q, resolve, reject });
      // (Past `max`, after waiting for a call to answer: the end of the turn splits them.)
      if (this.pending.length >= this.eager && this.pending.length <= this.max && this.running < this.inFlight) {
        const chunk = this.pending;
        this.pending = [];
        this.sentEarly = true;
        this.start(chunk);
        return;
      }
      if (!this.scheduled && this.running < this.inFlight) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    const size = this.sentEarly && all.length <= this.max ? all.length : chunkSize(all.length, this.max);
    this.sentEarly = false;
    let from = 0;
    while (from < all.length && this.running < this.inFlight) {
      const chunk = from === 0 && all.length <= size ? all : all.slice(from, from + size);
      from += chunk.length;
      this.start(chunk);
    }
    // What did not go waits, ahead of anything sent meanwhile.
    if (from < all.length)
      this.pending = this.pending.length === 0 ? all.slice(from) : [...all.slice(from), ...this.pending];
  };

  /** One call for `chunk`, answering each of its requests in order. */
  private start(chunk: Array<{ q: Q; resolve(a: A): void; reject(e: unknown): void }>): void {
    this.running++;
    let ran: Promise<A[]>;
    try {
      ran = this.run(chunk.map((p) => p.q));
    } catch (e) {
      ran = Promise.reject(e);
    }
    ran.then(
      (as) => {
        this.done();
        for (let j = 0; j < chunk.length; j++) chunk[j]?.resolve(as[j] as A);
      },
      (e: unknown) => {
        this.done();
        for (const p of chunk) p.reject(e);
      },
    );
  }

  /** One call answered: what waited goes now (at the end of this turn, with what else arrives in it). */
  private done(): void {
    this.running--;
    if (this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}

/** Requests of a turn below which they go in one call. */
const SPLIT_FROM = 16;

/**
 * The size of the chunks `n` requests go in: equal ones, at least two from SPLIT_FROM
 * requests (so Redis runs one while this process answers the other), none over `max`.
 */
export function chunkSize(n: number, max: number): number {
  if (n < SPLIT_FROM) return Math.min(n, max);
  return Math.ceil(n / Math.max(2, Math.ceil(n / max)));
}
