/**
 * Finding a served method from the bytes of a request's subject (`<prefix>.<pkg.Service>.<Method>`),
 * so the common request needs no decoded subject string. A service has a handful of methods:
 * a scan comparing lengths, then bytes, is all it takes.
 */
import { bytesAt } from "../wire/bytes.js";
import type { ServedMethod } from "./invoke.js";

const encoder = new TextEncoder();

export class MethodTable {
  private readonly names: Uint8Array[] = [];
  private readonly methods: ServedMethod[] = [];

  constructor(methods: Iterable<ServedMethod>) {
    for (const m of methods) {
      this.names.push(encoder.encode(m.name));
      this.methods.push(m);
    }
  }

  /** The method named by `subject` from byte `skip` to its end, if it is one of these. */
  find(subject: Uint8Array, skip: number): ServedMethod | undefined {
    const len = subject.length - skip;
    const names = this.names;
    for (let k = 0; k < names.length; k++) {
      const name = names[k] as Uint8Array;
      if (name.length === len && bytesAt(subject, skip, name)) return this.methods[k];
    }
    return undefined;
  }
}
