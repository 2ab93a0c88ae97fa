/**
 * Decoded load figures by their stored form (base64 of an islb.Load message), for the Redis
 * store's tail: a heartbeat's load is encoded once when sent and decoded by every instance that
 * reads its entry, this one included (its tail usually reads the entry before the script's
 * answer arrives). Kept here, this instance's own loads are never decoded, and the many nodes
 * reporting the same figures (idle ones: all zeros) share one object. Bounded: two
 * generations of at most GENERATION entries each. The objects are shared: never changed in place.
 */
import { decodeLoad } from "./records.js";
import type { Load } from "./model.js";

const GENERATION = 4096;

let current = new Map<string, Load>();
let previous = new Map<string, Load>();

/** Notes that `b64` is the stored form of `load` (a heartbeat about to be written). */
export function rememberLoad(b64: string, load: Load): void {
  if (current.has(b64)) return;
  if (current.size >= GENERATION) {
    previous = current;
    current = new Map();
  }
  current.set(b64, load);
}

/** The load stored as `b64`, decoded once while it is remembered. */
export function loadOf(b64: string): Load {
  const hit = current.get(b64) ?? previous.get(b64);
  if (hit !== undefined) return hit;
  const load = decodeLoad(new Uint8Array(Buffer.from(b64, "base64")));
  rememberLoad(b64, load);
  return load;
}
