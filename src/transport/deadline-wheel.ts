/**
 * Deadlines of unary calls on one coarse wheel: one interval per wheel (per connection on a
 * client, per server), and no Node timer per call while its reply comes before the last
 * moments of its deadline. A deadline waits in the wheel's slot that ends at least two slots
 * before it; when that slot comes due, what is left of it (under three slots) becomes an exact
 * timer (src/deadline.ts), so every deadline still fires when it passes, not a slot late.
 * Deadlines shorter than three slots get the exact timer at once.
 */
import { createDeadline, type DeadlineTimer } from "../deadline.js";
import { perConnection } from "./per-connection.js";

/** How wide a slot of the wheel is, in ms (its interval's period). */
export const WHEEL_SLOT_MS = 50;

/**
 * A deadline on the wheel: `cleanup` when the call ends first. A unary call is its own deadline
 * (it extends this class and says in `expired` what passing it means), so arming one allocates
 * nothing per call; `DeadlineWheel.arm` wraps a callback for everyone else.
 */
export abstract class WheelDeadline {
  /** The wheel slot it waits in, or -1 (not armed, an exact timer holds it, or it is over). */
  wheelSlot = -1;
  /** Its place in its slot's list (see DeadlineWheel.remove). */
  wheelIndex = -1;
  /** When it passes (performance.now() time); 0 until armed. */
  deadlineAt = 0;
  private wheel: DeadlineWheel | undefined;
  private exact: DeadlineTimer | undefined;
  private deadlineOver = false;

  /** True once armed (an unarmed one has nothing to clean up). */
  protected get hasDeadline(): boolean {
    return this.wheel !== undefined;
  }

  /** What passing the deadline does (runs once, unless `cleanup` ran first). */
  protected abstract expired(): void;

  /** Its slot came due at `now`: fires, or arms an exact timer for what is left. */
  due(now: number): void {
    this.wheelSlot = -1;
    if (this.deadlineOver) return;
    const left = this.deadlineAt - now;
    if (left > 0) this.exact = createDeadline(left, () => this.expire());
    else this.expire();
  }

  /** Arms it on `wheel` (DeadlineWheel.add does). */
  attach(wheel: DeadlineWheel, at: number): void {
    this.wheel = wheel;
    this.deadlineAt = at;
  }

  /** Arms an exact timer of `ms` at once (a deadline too short for the wheel). */
  armExact(ms: number): void {
    this.exact = createDeadline(ms, () => this.expire());
  }

  private expire(): void {
    if (this.deadlineOver) return;
    this.deadlineOver = true;
    this.exact = undefined;
    this.expired();
  }

  /** Stops it (the call ended before its deadline); harmless when it was never armed. */
  cleanup(): void {
    if (this.deadlineOver) return;
    this.deadlineOver = true;
    if (this.wheelSlot >= 0) this.wheel?.remove(this);
    if (this.exact !== undefined) {
      this.exact.cleanup();
      this.exact = undefined;
    }
  }
}

/** A deadline that calls back. */
class CallbackDeadline extends WheelDeadline {
  constructor(private readonly onExpire: () => void) {
    super();
  }

  protected expired(): void {
    this.onExpire();
  }
}

/** The wheel: slots of WHEEL_SLOT_MS, ticked by one interval that runs while any slot is full. */
export class DeadlineWheel {
  /** Deadlines by slot, in lists whose items know their place: a removal swaps the last one in (no hashing). */
  private readonly slots = new Map<number, WheelDeadline[]>();
  private timer: NodeJS.Timeout | undefined;
  /** The lowest slot that may hold deadlines. */
  private first = Infinity;

  /** @param slotMs the width of a slot. */
  constructor(private readonly slotMs = WHEEL_SLOT_MS) {}

  /** Arms a deadline `ms` from now; `onExpire` runs once when it passes, unless cleaned up first. */
  arm(ms: number, onExpire: () => void): WheelDeadline {
    const d = new CallbackDeadline(onExpire);
    this.add(d, ms);
    return d;
  }

  /** Arms `d` (not armed before) to pass `ms` from now. */
  add(d: WheelDeadline, ms: number): void {
    const at = performance.now() + ms;
    d.attach(this, at);
    if (ms < 3 * this.slotMs) {
      d.armExact(ms);
      return;
    }
    const slot = Math.floor(at / this.slotMs) - 2;
    let list = this.slots.get(slot);
    if (list === undefined) this.slots.set(slot, (list = []));
    d.wheelIndex = list.length;
    list.push(d);
    d.wheelSlot = slot;
    if (slot < this.first) this.first = slot;
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.slotMs);
      this.timer.unref();
    }
  }

  /** Takes a deadline out of its slot (it was cleaned up). */
  remove(d: WheelDeadline): void {
    const slot = d.wheelSlot;
    const i = d.wheelIndex;
    d.wheelSlot = -1;
    d.wheelIndex = -1;
    const list = this.slots.get(slot);
    if (list === undefined || list[i] !== d) return;
    const last = list.pop() as WheelDeadline;
    if (last !== d) {
      list[i] = last;
      last.wheelIndex = i;
    }
    if (list.length === 0) this.slots.delete(slot);
  }

  /** Deadlines waiting in slots. */
  get size(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.length;
    return n;
  }

  /** True while its interval runs. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    const now = performance.now();
    // Slot s ends at (s + 1) * slotMs: due once that has passed.
    const last = Math.floor(now / this.slotMs) - 1;
    if (this.first <= last) {
      let first = Infinity;
      for (const [slot, set] of this.slots) {
        if (slot > last) {
          if (slot < first) first = slot;
          continue;
        }
        this.slots.delete(slot);
        for (const d of set) {
          d.wheelIndex = -1;
          d.due(now);
        }
      }
      this.first = first;
    }
    if (this.slots.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.first = Infinity;
    }
  }
}

/** The connection's wheel of unary-call deadlines (its interval stops by itself when no deadline waits). */
export const deadlineWheelFor = perConnection(() => new DeadlineWheel());
