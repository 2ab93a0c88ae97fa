/**
 * The slots of each service's nodes (see NodeTable), as one growing Int32Array a service and
 * each slot's position in it: a node joins or leaves its service in O(1) (the last slot takes
 * the place of one that leaves), with 8 bytes a node rather than a map entry (both grow by an
 * eighth when full: see capacity.ts).
 */
import { grown, widened } from "./capacity.js";
const NONE = { slots: new Int32Array(0), n: 0 };

export class ServiceSlots {
  private readonly lists = new Map<string, { slots: Int32Array; n: number }>();
  /** Each slot's position in its service's list. */
  private pos = new Int32Array(0);

  /** How many nodes `service` has. */
  countOf(service: string): number {
    return this.lists.get(service)?.n ?? 0;
  }

  /** Services with at least one node. */
  names(): string[] {
    return [...this.lists.keys()];
  }

  add(service: string, s: number): void {
    let list = this.lists.get(service);
    if (list === undefined) this.lists.set(service, (list = { slots: new Int32Array(4), n: 0 }));
    if (list.n === list.slots.length) list.slots = widened(list.slots, grown(list.slots.length, 4));
    if (s >= this.pos.length) this.pos = widened(this.pos, Math.max(s + 1, grown(this.pos.length)));
    list.slots[list.n] = s;
    this.pos[s] = list.n++;
  }

  remove(service: string, s: number): void {
    const list = this.lists.get(service);
    if (list === undefined) return;
    const i = this.pos[s] as number;
    const last = list.slots[--list.n] as number;
    list.slots[i] = last;
    this.pos[last] = i;
    if (list.n === 0) this.lists.delete(service);
  }

  /** The slots of `service` (the first `n` of `slots`, in no particular order): read before the service changes. */
  slotsOf(service: string): { readonly slots: Int32Array; readonly n: number } {
    return this.lists.get(service) ?? NONE;
  }

  clear(): void {
    this.lists.clear();
  }
}
