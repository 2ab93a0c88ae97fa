/**
 * Requests that arrive in one turn of the event loop, sent together: `send` queues one, and
 * at the end of the turn (setImmediate) the queue goes to `run` in chunks of at most `max`,
 * each chunk one call that answers every request of it, in order.
 */
export class TurnBatch<Q, A> {
  private pending: Array<{ q: Q; resolve(a: A): void; reject(e: unknown): void }> = [];
  private scheduled = false;

  /** @param run answers a chunk (one answer per request, in order). */
  constructor(
    private readonly run: (qs: Q[]) => Promise<A[]>,
    private readonly max = 256,
  ) {}

  send(q: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.pending.push({ q, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += this.max) {
      const chunk = all.slice(i, i + this.max);
      this.run(chunk.map((p) => p.q)).then(
        (as) => {
          for (let j = 0; j < chunk.length; j++) chunk[j]?.resolve(as[j] as A);
        },
        (e: unknown) => {
          for (const p of chunk) p.reject(e);
        },
      );
    }
  };
}
