/**
 * grpc.health.v1.Health through the gateway: service "" is the gateway itself (SERVING while
 * its NATS connection is up); a named service passes through to the bus's health service,
 * or is NOT_FOUND when the gateway does not expose it.
 */
import type { NatsConnection } from "nats";
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../generated/grpc/health/v1/health.js";
import { Metadata, Status } from "../index.js";
import type { Access } from "./access.js";
import { requestsOf, type CallSink, type GatewayCall, type LocalHandler, type Requests } from "./bridge.js";

/** Whether the gateway's NATS connection is up, and who wants to hear when that changes. */
export class ConnectionHealth {
  private up = true;
  private readonly listeners = new Set<() => void>();

  constructor(nc: NatsConnection) {
    void (async () => {
      for await (const s of nc.status()) {
        const up = s.type === "disconnect" || s.type === "error" ? false : s.type === "reconnect" ? true : this.up;
        if (up !== this.up) {
          this.up = up;
          for (const l of this.listeners) l();
        }
      }
    })().catch(() => undefined);
    void nc.closed().then(() => {
      this.up = false;
      for (const l of this.listeners) l();
    });
  }

  get status(): Serving {
    return this.up ? Serving.SERVING : Serving.NOT_SERVING;
  }

  /** Calls `f` on every change; returns how to stop. */
  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
}

async function request(
  call: GatewayCall,
  requests: Requests,
): Promise<{ bytes: Uint8Array; service: string } | { code: Status; message: string }> {
  const bytes = await requests.single();
  if (bytes === undefined) return { code: Status.INTERNAL, message: `${call.path}: the request has no message` };
  try {
    return { bytes, service: HealthCheckRequest.decode(bytes).service };
  } catch (e) {
    return { code: Status.INTERNAL, message: `cannot decode the request: ${(e as Error).message}` };
  }
}

function send(sink: CallSink, status: Serving): Promise<void> | undefined {
  return sink.message(HealthCheckResponse.encode({ status }).finish());
}

/** The Check and Watch handlers. */
export function healthHandlers(health: ConnectionHealth, access: Access): Map<string, LocalHandler> {
  const check: LocalHandler = async (call, requests, sink, bridge) => {
    const r = await request(call, requests);
    if ("code" in r) return sink.end(r.code, r.message, Metadata());
    if (r.service !== "") {
      if (!access.exposesService(r.service))
        return sink.end(Status.NOT_FOUND, `unknown service ${JSON.stringify(r.service)}`, Metadata());
      return bridge.upstream(call, requestsOf([r.bytes]), sink);
    }
    sink.header(Metadata());
    await send(sink, health.status);
    sink.end(Status.OK, "", Metadata());
  };
  const watch: LocalHandler = async (call, requests, sink, bridge) => {
    const r = await request(call, requests);
    if ("code" in r) return sink.end(r.code, r.message, Metadata());
    if (r.service !== "") {
      if (!access.exposesService(r.service)) {
        sink.header(Metadata());
        await send(sink, Serving.SERVICE_UNKNOWN);
        await new Promise((resolve) => call.signal.addEventListener("abort", resolve, { once: true }));
        return sink.end(Status.CANCELLED, "the call was cancelled", Metadata());
      }
      return bridge.upstream(call, requestsOf([r.bytes]), sink);
    }
    let wake: (() => void) | undefined;
    const stop = health.onChange(() => wake?.());
    const onAbort = (): void => wake?.();
    call.signal.addEventListener("abort", onAbort);
    try {
      sink.header(Metadata());
      let last: Serving | undefined;
      while (!call.signal.aborted) {
        const now = health.status;
        if (now !== last) {
          last = now;
          await send(sink, now);
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
      sink.end(Status.CANCELLED, "the call was cancelled", Metadata());
    } finally {
      stop();
      call.signal.removeEventListener("abort", onAbort);
    }
  };
  return new Map([
    ["/grpc.health.v1.Health/Check", check],
    ["/grpc.health.v1.Health/Watch", watch],
  ]);
}
