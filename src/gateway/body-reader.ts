/**
 * The request messages of a call, read from its HTTP body as the bus side asks for them: at
 * most `highWater` bytes of whole messages (plus the one being read) are held; past that the
 * body is paused, so HTTP/2 flow control holds the client back and nothing grows without bound.
 */
import type { Readable } from "node:stream";
import { Status } from "../index.js";
import { inflate, type Encoding } from "./compression.js";
import { FramingError, MessageParser } from "./framing.js";

const COMPRESSED = 0x01;

/** The request messages of one call, from its body, read on demand (flow control both ways). */
export class BodyReader implements AsyncIterable<Uint8Array> {
  private readonly parser: MessageParser;
  private queue: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;
  private ended = false;
  private error: Error | undefined;
  private waiter: { resolve(r: IteratorResult<Uint8Array>): void; reject(e: unknown): void } | undefined;
  private discarding = false;
  private paused = false;
  private iterated = false;

  /**
   * @param body the request body
   * @param max the largest request message, in bytes
   * @param encoding how the request's compressed messages are compressed (its grpc-encoding)
   * @param highWater bytes of unread messages held before the body is paused
   */
  constructor(
    private readonly body: Readable,
    private readonly max: number,
    private readonly encoding?: Encoding,
    private readonly highWater = 64 * 1024,
  ) {
    this.parser = new MessageParser(max, (flags, m) => this.onMessage(flags, m));
    body.on("data", (chunk: Buffer) => {
      if (this.error !== undefined || this.ended) return;
      try {
        this.parser.push(chunk);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    body.on("end", () => {
      if (this.parser.partial)
        return this.fail(new FramingError(Status.INTERNAL, "the request body ended inside a message"));
      // An HTTP/2 peer's reset (RST_STREAM: the client cancelled) ends the readable side as the
      // client's half-close does; told apart a moment later, when the reset has closed the
      // stream ("close" comes first, or it has an rstCode). Taken for a half-close, a cancelled
      // client stream would reach its server as complete. (An HTTP/1.1 body ends only when
      // whole, and its "close" follows every end.)
      const h2 = body as Readable & { session?: unknown; rstCode?: number; aborted?: boolean };
      if (h2.session === undefined) return this.finish();
      setImmediate(() => {
        if (this.ended || this.error !== undefined) return;
        if ((h2.rstCode !== undefined && h2.rstCode !== 0) || h2.aborted === true)
          this.fail(new FramingError(Status.CANCELLED, "the request was cancelled"));
        else this.finish();
      });
    });
    body.on("error", () => this.fail(new FramingError(Status.CANCELLED, "the request body failed")));
    body.on("close", () => {
      if (!this.ended) this.fail(new FramingError(Status.CANCELLED, "the request was cancelled"));
    });
  }

  private onMessage(flags: number, raw: Uint8Array): void {
    if ((flags & ~COMPRESSED) !== 0)
      throw new FramingError(Status.INTERNAL, `request message with unknown flags 0x${flags.toString(16)}`);
    const message = flags === COMPRESSED ? inflate(this.encoding, raw, this.max) : raw;
    if (this.discarding) return;
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve({ value: message, done: false });
      return;
    }
    this.queue.push(message);
    this.bytes += message.length;
    if (this.bytes > this.highWater && !this.paused) {
      this.paused = true;
      this.body.pause();
    }
  }

  private finish(): void {
    if (this.ended || this.error !== undefined) return;
    this.ended = true;
    const w = this.waiter;
    if (w !== undefined && this.head === this.queue.length) {
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  private fail(e: Error): void {
    if (this.error !== undefined || this.ended) return;
    this.error = e;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.head < this.queue.length) {
      const m = this.queue[this.head] as Uint8Array;
      this.queue[this.head++] = undefined as unknown as Uint8Array;
      this.bytes -= m.length;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      if (this.paused && this.bytes <= this.highWater / 2) {
        this.paused = false;
        this.body.resume();
      }
      return Promise.resolve({ value: m, done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Reads and drops whatever else the body holds (a unary call has its message). */
  private discard(): void {
    this.discarding = true;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    if (this.paused) {
      this.paused = false;
      this.body.resume();
    }
  }

  /** The one request message of a unary call; later ones are dropped. Undefined: the body ended without one. */
  async single(): Promise<Uint8Array | undefined> {
    const r = await this.next();
    this.discard();
    return r.done === true ? undefined : r.value;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error("a request body can be read only once");
    this.iterated = true;
    return {
      next: () => this.next(),
      return: () => {
        this.discard();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
