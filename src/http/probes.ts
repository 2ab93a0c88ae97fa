/**
 * Liveness and readiness, as an orchestrator probes them. Liveness: the process runs its
 * loops (a timer that should fire every `LOOP_MS` did so lately). Readiness: what the
 * composition root reports (NATS connected, the store answering, the view synced), the same
 * source grpc.health.v1 answers from.
 */

/** One readiness check and its state now. */
export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Why it is not ok (or a detail when it is). */
  readonly detail?: string;
}

/** Where readiness comes from. */
export type ReadinessSource = () => readonly ReadinessCheck[];

const LOOP_MS = 500;
/** The loop is stuck when its timer is this late. */
const STUCK_MS = 5000;

/** Watches the event loop: a timer that notes each time it fires. */
export class LoopMonitor {
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;
  readonly startedAt = Date.now();

  constructor() {
    this.timer = setInterval(() => (this.last = Date.now()), LOOP_MS);
    this.timer.unref();
  }

  /** The liveness answer: ok while the loop's timer keeps firing. */
  status(now = Date.now()): { ok: boolean; body: Record<string, unknown> } {
    const lagMs = Math.max(0, now - this.last - LOOP_MS);
    const ok = now - this.last < STUCK_MS;
    return {
      ok,
      body: { status: ok ? "ok" : "stuck", uptimeSeconds: Math.round((now - this.startedAt) / 1000), loopLagMs: lagMs },
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The readiness answer: ready when every check is ok; the failing ones say why. */
export function readiness(source: ReadinessSource): { ok: boolean; body: Record<string, unknown> } {
  const checks = source();
  const failing = checks.filter((c) => !c.ok);
  return {
    ok: failing.length === 0,
    body: {
      status: failing.length === 0 ? "ready" : "not ready",
      reason: failing.map((c) => `${c.name}: ${c.detail ?? "not ok"}`).join("; ") || undefined,
      checks: Object.fromEntries(checks.map((c) => [c.name, { ok: c.ok, detail: c.detail }])),
    },
  };
}
