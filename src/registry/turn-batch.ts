/**
 * Requests that arrive in one turn of the event loop, sent together: `send` queues one, and
 * at the end of the turn (setImmediate) the queue goes to `run` in chunks of at most `max`,
 * each chunk one call that answers every request of it, in order. At most `inFlight` calls
 * run at once: while they do, new requests wait and go together in the next call as soon as
 * one answers, so a busy instance sends fewer, larger calls (one write to Redis and one
 * script run each) instead of many small ones. Under light load a request goes at the end of
 * its turn, as before.
 */
export class TurnBatch<Q, A> {
  private pending: Array<{ q: Q; resolve(a: A): void; reject(e: unknown): void }> = [];
  private scheduled = false;
  private running = 0;

  /**
   * @param run answers a chunk (one answer per request, in order).
   * @param max requests per call.
   * @param inFlight calls running at once (the others wait for one of them to answer).
   */
  constructor(
    private readonly run: (qs: Q[]) => Promise<A[]>,
    private readonly max = 256,
    private readonly inFlight = 2,
  ) {}

  send(q: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.pending.push({ q, resolve, reject });
      if (!this.scheduled && this.running < this.inFlight) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    while (this.pending.length > 0 && this.running < this.inFlight) {
      const chunk = this.pending.length <= this.max ? this.pending : this.pending.slice(0, this.max);
      this.pending = chunk === this.pending ? [] : this.pending.slice(this.max);
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
  };

  /** One call answered: what waited goes now (at the end of this turn, with what else arrives in it). */
  private done(): void {
    this.running--;
    if (this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}
