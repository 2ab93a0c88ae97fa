/**
 * One inbox subscription per connection (`<inbox prefix>.<id>.*`) that routes each message to
 * the call whose token ends its subject, so a call costs no subscription of its own. A token
 * is a sequence number in base 36 (the key of the call's entry, read back from the subject's
 * bytes) followed by RANDOM_CHARS random characters (compared in place): a peer that saw one
 * reply subject of this client cannot predict the next, so it cannot answer a call it was not
 * sent (docs/PROTOCOL.md, "Per-call tokens").
 */
import { nuid, type Msg, type NatsConnection, type Subscription } from "nats";
import { inboxPrefix } from "../subjects.js";
import { perConnection } from "./per-connection.js";
import { rawSubject } from "../wire/raw-msg.js";
import { RANDOM_CHARS, endsWithKey, randomChars } from "./tokens.js";

const encoder = new TextEncoder();

/**
 * The sequence number at the start of an inbox token: the bytes of `subject` from `skip` to
 * `end`, base 36 as `Number#toString(36)` writes it (no leading zero, at most 10 digits); -1
 * for anything else.
 */
export function tokenAt(subject: Uint8Array, skip: number, end = subject.length): number {
  const len = end - skip;
  if (len < 1 || len > 10 || (len > 1 && subject[skip] === 0x30)) return -1;
  let value = 0;
  for (let i = skip; i < end; i++) {
    const c = subject[i] as number;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x57 : -1;
    if (d < 0) return -1;
    value = value * 36 + d;
  }
  return value;
}

/**
 * The inbox prefix the connection was configured with (nats.js `inboxPrefix`), undefined for
 * NATS's default. nats.js keeps its options on the connection object, outside its interface.
 */
export function connectionInbox(nc: NatsConnection): string | undefined {
  const p = (nc as { options?: { inboxPrefix?: unknown } }).options?.inboxPrefix;
  return typeof p === "string" && p !== "" ? p : undefined;
}

/** Gets each message for its token, or `undefined` when the connection dropped (replies in flight are lost). */
export interface MuxReceiver {
  deliver(msg: Msg | undefined): void;
}

interface Entry {
  readonly receiver: MuxReceiver;
  /** The token's random part. */
  readonly key: string;
}

/** The connection's inbox: one subscription, each message routed to its call by its token. */
export class InboxMux {
  private readonly handlers = new Map<number, Entry>();
  private readonly sub: Subscription;
  private next = 0;
  readonly prefix: string;

  constructor(nc: NatsConnection) {
    this.prefix = inboxPrefix(connectionInbox(nc), nuid.next());
    const skip = this.prefix.length + 1;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const subject = rawSubject(msg) ?? encoder.encode(msg.subject);
        const e = this.handlers.get(tokenAt(subject, skip, subject.length - RANDOM_CHARS));
        if (e === undefined || !endsWithKey(subject, e.key)) return;
        try {
          e.receiver.deliver(msg);
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
      for (const e of [...this.handlers.values()]) {
        try {
          e.receiver.deliver(undefined);
        } catch {
          /* as above */
        }
      }
    }
  }

  /** Registers a receiver; returns its token. Its reply subject is `subjectOf(token)`. */
  add(receiver: MuxReceiver): number {
    const token = this.next++;
    this.handlers.set(token, { receiver, key: randomChars() });
    return token;
  }

  /** The reply subject that reaches the receiver of `token` (while it is registered). */
  subjectOf(token: number): string {
    return `${this.prefix}.${token.toString(36)}${this.handlers.get(token)?.key ?? ""}`;
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
