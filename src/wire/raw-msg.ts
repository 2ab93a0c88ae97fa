/**
 * Reading a received nats.js message without decoding it: its subject and header block as the
 * bytes nats.js keeps. These are nats.js internals (MsgImpl's `_msg` and `_rdata`), read
 * defensively: every function answers `undefined` or false when they are not there as
 * expected, and callers then take the decoded path. Tests pin the nats.js version's shape.
 */
import { bytesAt } from "./bytes.js";

interface RawMsg {
  _msg?: { subject?: unknown; hdr?: unknown };
  _rdata?: unknown;
}

/** The subject's bytes, undecoded. */
export function rawSubject(msg: unknown): Uint8Array | undefined {
  const s = (msg as RawMsg)._msg?.subject;
  return s instanceof Uint8Array ? s : undefined;
}

/** True when the message's header block is exactly `block` (an encoded header set). */
export function headerBlockIs(msg: unknown, block: Uint8Array): boolean {
  const m = msg as RawMsg;
  const len = m._msg?.hdr;
  const data = m._rdata;
  return len === block.length && data instanceof Uint8Array && bytesAt(data, 0, block);
}
