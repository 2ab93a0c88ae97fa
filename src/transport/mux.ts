/**
 * One inbox subscription per connection (`_INBOX.<id>.*`) that routes each message to the
 * call whose token ends its subject, so a call costs no subscription of its own.
 */
import { nuid, type Msg, type NatsConnection, type Subscription } from "nats";
import { inboxPrefix } from "../subjects.js";

/** Gets each message for its token, or `undefined` when the connection dropped (replies in flight are lost). */
export interface MuxReceiver {
  deliver(msg: Msg | undefined): void;
}

export class InboxMux {
  private readonly handlers = new Map<string, MuxReceiver>();
  private readonly sub: Subscription;
  private next = 0;
  readonly prefix: string;

  constructor(nc: NatsConnection) {
    this.prefix = inboxPrefix(nuid.next());
    const skip = this.prefix.length + 1;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const h = this.handlers.get(msg.subject.slice(skip));
        if (h === undefined) return;
        try {
          h.deliver(msg);
        } catch {
          /* handlers own their errors; a throw must not reach the NATS parser */
        }
      },
    });
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type !== "disconnect") continue;
      for (const h of [...this.handlers.values()]) {
        try {
          h.deliver(undefined);
        } catch {
          /* as above */
        }
      }
    }
  }

  /** Registers a receiver; returns its token. Its reply subject is `subjectOf(token)`. */
  add(receiver: MuxReceiver): string {
    const token = (this.next++).toString(36);
    this.handlers.set(token, receiver);
    return token;
  }

  /** The reply subject that reaches the receiver of `token`. */
  subjectOf(token: string): string {
    return `${this.prefix}.${token}`;
  }

  remove(token: string): void {
    this.handlers.delete(token);
  }

  /** Calls waiting for messages. */
  get size(): number {
    return this.handlers.size;
  }

  close(): void {
    this.handlers.clear();
    this.sub.unsubscribe();
  }
}

const muxes = new WeakMap<NatsConnection, InboxMux>();

/** The connection's shared mux, made on first use. */
export function muxFor(nc: NatsConnection): InboxMux {
  let m = muxes.get(nc);
  if (m === undefined) {
    m = new InboxMux(nc);
    muxes.set(nc, m);
  }
  return m;
}
