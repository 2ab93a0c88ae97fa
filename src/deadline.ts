/** gRPC's `grpc-timeout` header format: up to 8 digits and a unit (H, M, S, m, u, n). */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const MAX_DIGITS = 99_999_999;

/** Encodes a timeout in milliseconds, keeping as much precision as 8 digits allow. */
export function encodeTimeout(ms: number): string {
  const t = Math.max(0, ms);
  if (t * 1000 <= MAX_DIGITS && !Number.isInteger(t)) return `${Math.ceil(t * 1000)}u`;
  if (t <= MAX_DIGITS) return `${Math.ceil(t)}m`;
  if (t / 1000 <= MAX_DIGITS) return `${Math.ceil(t / 1000)}S`;
  if (t / 60_000 <= MAX_DIGITS) return `${Math.ceil(t / 60_000)}M`;
  return `${Math.min(MAX_DIGITS, Math.ceil(t / 3_600_000))}H`;
}

/** Parses a `grpc-timeout` value to milliseconds; undefined when it is malformed. */
export function parseTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/**
 * Milliseconds left until a deadline: a Date, or a number of milliseconds from now (the
 * meaning nice-grpc and its deadline middleware give a number).
 */
export function msUntil(deadline: Date | number, now = Date.now()): number {
  return typeof deadline === "number" ? deadline : deadline.getTime() - now;
}
