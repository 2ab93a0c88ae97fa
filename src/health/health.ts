/**
 * grpc.health.v1.Health: the status of the server ("") and of each service, checked or
 * watched. Whoever knows (islb: its store) sets the status.
 */
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServiceImplementation,
} from "../../generated/grpc/health/v1/health.js";
import type { CallContext } from "nice-grpc-common";
import { Status, fail } from "../status.js";

export { ServingStatus };

export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<() => void>();

  /** Sets the status of a service ("" for the whole server); watchers hear only changes. */
  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const w of this.watchers) w();
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** The Health service over these statuses. */
  service(): HealthServiceImplementation {
    const statuses = this;
    return {
      async check(req: HealthCheckRequest): Promise<HealthCheckResponse> {
        const s = statuses.get(req.service);
        if (s === undefined) fail(Status.NOT_FOUND, `unknown service ${JSON.stringify(req.service)}`);
        return { status: s };
      },
      async *watch(req: HealthCheckRequest, ctx: CallContext): AsyncGenerator<HealthCheckResponse> {
        // `dirty` catches changes made while the consumer was away (suspended at yield).
        let dirty = true;
        let wake: (() => void) | undefined;
        const notify = (): void => {
          dirty = true;
          wake?.();
        };
        statuses.watchers.add(notify);
        ctx.signal.addEventListener("abort", notify);
        try {
          let last: ServingStatus | undefined;
          for (;;) {
            if (!dirty) await new Promise<void>((r) => (wake = r));
            if (ctx.signal.aborted) return;
            dirty = false;
            const now = statuses.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
            if (now !== last) {
              last = now;
              yield { status: now };
            }
          }
        } finally {
          statuses.watchers.delete(notify);
          ctx.signal.removeEventListener("abort", notify);
        }
      },
    };
  }
}
