/**
 * Flow control: a bounded queue of received messages, read as an AsyncIterable, and the
 * credit a sender must hold before each message. Credit counts bytes of messages (each item
 * has a cost); the receiver grants it back as its consumer reads, so a consumer that stops
 * reading stops the producer on the other side and nothing is buffered without bound.
 */

/** What one message costs against a window: its bytes and a fixed overhead, so empty messages count too. */
export function messageCost(bytes: number): number {
  return bytes + 32;
}

interface Waiter<T> {
  resolve(r: IteratorResult<T>): void;
  reject(e: unknown): void;
}

/**
 * Bytes that many calls share (a server's bound on the messages all its calls hold waiting):
 * a queue takes a message's bytes while the message is unread or in its reader's hand, and a
 * response waiting for the client's credit takes its own. Each call's own window bounds one
 * peer; this bounds them all together.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  /** Bytes held now. */
  get used(): number {
    return this.held;
  }

  /** Takes `n` bytes; false (nothing taken) when that would pass the limit. */
  take(n: number): boolean {
    if (this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held -= n;
  }
}

/** Received messages of one call, in order, bounded by `capacity`. */
export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly costs: number[] = [];
  /** Per message, its bytes taken from `budget` (only with a budget). */
  private readonly bytes: number[] = [];
  private used = 0;
  /** Bytes of the unread messages taken from `budget`. */
  private budgeted = 0;
  /**
   * Bytes of the message the reader took last, still taken from `budget` while it works on it
   * (a handler that answers a request holds it until it asks for the next one).
   */
  private inHand = 0;
  /** True when the last `push` was refused by the shared budget (not by this queue's capacity). */
  overBudget = false;
  private head = 0;
  private waiter: Waiter<T> | undefined;
  private ended = false;
  /** Thrown to the reader after the queued messages, when the stream ended with an error. */
  private finalError: unknown = undefined;
  private error: unknown = undefined;
  private iterated = false;

  /**
   * @param capacity the total cost of unread messages it holds; `push` past that returns false.
   * @param onRead called with its cost after each message the consumer takes (to grant credit).
   * @param onReturn called when the consumer stops early (break, or an error of its own).
   * @param budget bytes shared with other queues: a message kept unread takes its bytes from it.
   */
  constructor(
    readonly capacity: number,
    private readonly onRead?: (cost: number) => void,
    private readonly onReturn?: () => void,
    private readonly budget?: ByteBudget,
  ) {}

  /** Unread messages. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** True once `end` or `fail` was called. */
  get closed(): boolean {
    return this.ended || this.error !== undefined;
  }

  /**
   * Adds a message costing `cost` (1 by default) against the capacity, and `bytes` against the
   * shared budget if it is kept unread; false when full, over the budget (`overBudget`) or
   * closed (the caller fails the call).
   */
  push(item: T, cost = 1, bytes = cost): boolean {
    if (this.closed) return false;
    const w = this.waiter;
    if (w !== undefined) {
      if (!this.takeBudget(bytes)) return false;
      this.inHand = this.budget === undefined ? 0 : bytes;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      this.onRead?.(cost);
      return true;
    }
    if (this.used + cost > this.capacity) return false;
    if (!this.takeBudget(bytes)) return false;
    if (this.budget !== undefined) {
      this.bytes.push(bytes);
      this.budgeted += bytes;
    }
    this.items.push(item);
    this.costs.push(cost);
    this.used += cost;
    return true;
  }

  /** Takes `bytes` from the shared budget, if there is one; false (and `overBudget`) when it has no room. */
  private takeBudget(bytes: number): boolean {
    if (this.budget === undefined || this.budget.take(bytes)) return true;
    this.overBudget = true;
    return false;
  }

  /** Drops the unread messages, giving their bytes back to the budget (the call is over: nobody reads them). */
  discard(): void {
    this.items.length = 0;
    this.costs.length = 0;
    this.bytes.length = 0;
    this.used = 0;
    this.head = 0;
    this.budget?.give(this.budgeted + this.inHand);
    this.budgeted = 0;
    this.inHand = 0;
  }

  /** The reader is done with the message it took last: its bytes go back to the budget. */
  private putDown(): void {
    if (this.inHand === 0) return;
    this.budget?.give(this.inHand);
    this.inHand = 0;
  }

  /**
   * No more messages: the reader sees the end after the queued ones; with `err`, it gets that
   * error after them (a stream whose status is an error still delivers what came before it).
   */
  end(err?: unknown): void {
    if (this.closed) return;
    this.ended = true;
    this.finalError = err;
    if (this.waiter !== undefined && this.size === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (err === undefined) w.resolve({ value: undefined, done: true });
      else w.reject(err);
    }
  }

  /** Fails the reader at once (queued messages are dropped). */
  fail(err: unknown): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.discard();
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    }
  }

  private take(): IteratorResult<T> | undefined {
    if (this.error !== undefined) throw this.error;
    if (this.size > 0) {
      const value = this.items[this.head] as T;
      const cost = this.costs[this.head] as number;
      this.items[this.head] = undefined as T;
      if (this.budget !== undefined) {
        // Still held while the reader works on it: given back when it asks for the next.
        const b = this.bytes[this.head] as number;
        this.budgeted -= b;
        this.inHand = b;
      }
      this.head++;
      this.used -= cost;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.costs.splice(0, this.head);
        if (this.budget !== undefined) this.bytes.splice(0, this.head);
        this.head = 0;
      }
      this.onRead?.(cost);
      return { value, done: false };
    }
    if (this.ended) {
      if (this.finalError !== undefined) throw this.finalError;
      return { value: undefined, done: true };
    }
    return undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error("a message stream can be read only once");
    this.iterated = true;
    return {
      next: () => {
        this.putDown();
        try {
          const r = this.take();
          if (r !== undefined) return Promise.resolve(r);
        } catch (e) {
          return Promise.reject(e);
        }
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        if (!this.closed) this.onReturn?.();
        this.fail(new Error("stream closed by its reader"));
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/**
 * The credit a sender holds: how many more bytes the peer will take. A message may be sent
 * while any credit is left, even one larger than it (credit then goes below zero), so the
 * peer holds at most its window plus one message, and a message larger than the window
 * still gets through.
 */
export class Credit {
  private waiters: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  private error: unknown = undefined;

  constructor(private available: number) {}

  /** Bytes that can be sent now (may be negative after a large message). */
  get value(): number {
    return this.available;
  }

  /** Takes `cost` of credit, first waiting for the peer to grant some when there is none. */
  take(cost = 1): Promise<void> | undefined {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.available > 0 && this.waiters.length === 0) {
      this.available -= cost;
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({
        resolve: () => {
          this.available -= cost;
          resolve();
        },
        reject,
      });
    });
  }

  /** The peer granted `n` more. */
  grant(n: number): void {
    this.available += n;
    while (this.available > 0 && this.waiters.length > 0) this.waiters.shift()?.resolve();
  }

  /** Fails every waiting and future `take`. */
  fail(err: unknown): void {
    if (this.error !== undefined) return;
    this.error = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

/**
 * Counts what the reader consumed and says when to grant it back: after a quarter of the
 * window, so the sender never stalls while the reader keeps up.
 */
export class Grants {
  private read = 0;

  constructor(
    private readonly window: number,
    private readonly send: (credits: number) => void,
  ) {}

  /** Call after each message the consumer took, with its cost. */
  onRead(cost = 1): void {
    this.read += cost;
    if (this.read * 4 >= this.window) {
      const n = this.read;
      this.read = 0;
      this.send(n);
    }
  }
}
