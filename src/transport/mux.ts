/**
 * One inbox subscription per connection (`_INBOX.<id>.*`) that routes each message to the
 * call whose token ends its subject, so a call costs no subscription of its own. Tokens are
 * numbers, written in base 36 in the subject and read back from its bytes (no decoded
 * subject string per message).
 */
import { nuid, type Msg, type NatsConnection, type Subscription } from "nats";
import { inboxPrefix } from "../subjects.js";
import { perConnection } from "./per-connection.js";
import { rawSubject } from "../wire/raw-msg.js";

const encoder = new TextEncoder();

/**
 * The token at the end of an inbox subject (from byte `skip`): base 36 as `Number#toString(36)`
 * writes it (no leading zero, at most 10 digits); -1 for anything else.
 */
export function tokenAt(subject: Uint8Array, skip: number): number {
  const len = subject.length - skip;
  if (len < 1 || len > 10 || (len > 1 && subject[skip] === 0x30)) return -1;
  let value = 0;
  for (let i = skip; i < subject.length; i++) {
    const c = subject[i] as number;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x57 : -1;
    if (d < 0) return -1;
    value = value * 36 + d;
  }
  return value;
}

/** Gets each message for its token, or `undefined` when the connection dropped (replies in flight are lost). */
export interface MuxReceiver {
  deliver(msg: Msg | undefined): void;
}

export class InboxMux {
  private readonly handlers = new Map<number, MuxReceiver>();
  private readonly sub: Subscription;
  private next = 0;
  readonly prefix: string;

  constructor(nc: NatsConnection) {
    this.prefix = inboxPrefix(nuid.next());
    const skip = this.prefix.length + 1;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const h = this.handlers.get(tokenAt(rawSubject(msg) ?? encoder.encode(msg.subject), skip));
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
  add(receiver: MuxReceiver): number {
    const token = this.next++;
    this.handlers.set(token, receiver);
    return token;
  }

  /** The reply subject that reaches the receiver of `token`. */
  subjectOf(token: number): string {
    return `${this.prefix}.${token.toString(36)}`;
  }

  remove(token: number): void {
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

/** The connection's shared mux, made on first use. */
export const muxFor = perConnection((nc) => new InboxMux(nc));
