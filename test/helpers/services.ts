/** Implementations of the test services (proto/testing) used by transport tests. */
import { setTimeout as sleep } from "node:timers/promises";
import { ServerError, Status, type CallContext } from "nice-grpc-common";
import type {
  SimpleRequest,
  StreamingInputCallRequest,
  StreamingOutputCallRequest,
  TestServiceImplementation as GrpcTestImplementation,
} from "../../generated/testing/test.js";
import type {
  CountReply,
  CountRequest,
  FailRequest,
  TestServiceImplementation as InteropImplementation,
} from "../../generated/testing/interop.js";
import type { ServiceDefinition, ServiceImplementation } from "../../src/transport/definition.js";

const ECHO_INITIAL = "x-grpc-test-echo-initial";
const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";

function echoMetadata(ctx: CallContext): void {
  const initial = ctx.metadata.get(ECHO_INITIAL);
  if (initial !== undefined) ctx.header.set(ECHO_INITIAL, initial);
  const trailing = ctx.metadata.get(ECHO_TRAILING);
  if (trailing !== undefined) ctx.trailer.set(ECHO_TRAILING, trailing);
}

function failIfAsked(status: { code: number; message: string } | undefined): void {
  if (status !== undefined && status.code !== 0) throw new ServerError(status.code as Status, status.message);
}

const payload = (size: number) => ({ body: Buffer.alloc(size) });

/** Paths of calls whose handler saw its signal aborted (cancellation reaching the server). */
export const abortedCalls: string[] = [];
/** The calls whose handler started, by method name (for tests that must not cancel before the server has the call). */
export const startedCalls: string[] = [];

function recordAbort(ctx: CallContext, path: string): void {
  startedCalls.push(path);
  ctx.signal.addEventListener("abort", () => abortedCalls.push(path), { once: true });
}

/** gRPC's interop TestService, without UnimplementedCall. */
export const testService: Omit<GrpcTestImplementation, "unimplementedCall"> = {
  async emptyCall() {
    return {};
  },
  async unaryCall(req: SimpleRequest, ctx: CallContext) {
    echoMetadata(ctx);
    failIfAsked(req.responseStatus);
    return { payload: payload(req.responseSize) };
  },
  async *streamingOutputCall(req: StreamingOutputCallRequest, ctx: CallContext) {
    echoMetadata(ctx);
    for (const p of req.responseParameters) {
      if (p.intervalUs > 0) await sleep(p.intervalUs / 1000, undefined, { signal: ctx.signal });
      yield { payload: payload(p.size) };
    }
    failIfAsked(req.responseStatus);
  },
  async streamingInputCall(requests: AsyncIterable<StreamingInputCallRequest>, ctx: CallContext) {
    recordAbort(ctx, "StreamingInputCall");
    let total = 0;
    for await (const r of requests) total += r.payload?.body.length ?? 0;
    return { aggregatedPayloadSize: total };
  },
  async *fullDuplexCall(requests: AsyncIterable<StreamingOutputCallRequest>, ctx: CallContext) {
    recordAbort(ctx, "FullDuplexCall");
    echoMetadata(ctx);
    for await (const req of requests) {
      failIfAsked(req.responseStatus);
      for (const p of req.responseParameters) {
        if (p.intervalUs > 0) await sleep(p.intervalUs / 1000, undefined, { signal: ctx.signal });
        yield { payload: payload(p.size) };
      }
    }
  },
};

/** The captures' interop.test.Test service, with the behaviour the Go test server had. */
export const interopService: InteropImplementation = {
  async hello(req: CountReply, ctx: CallContext) {
    for (const [k, values] of ctx.metadata) {
      for (const v of values) {
        ctx.header.append(`h-${k}`, v as string);
        ctx.trailer.append(`t-${k}`, v as string);
      }
    }
    return { i: req.i + 1, msg: `${req.msg} world` };
  },
  async *count(req: CountRequest) {
    for (let i = 1; i <= req.n; i++) {
      if (req.failAt > 0 && i === req.failAt) throw new ServerError(req.failCode as Status, `count failed at ${i}`);
      yield { i, msg: `${req.prefix}-${i}` };
    }
  },
  async sum(requests: AsyncIterable<CountReply>) {
    let total = 0;
    let count = 0;
    const msgs: string[] = [];
    for await (const r of requests) {
      total += r.i;
      count++;
      msgs.push(r.msg);
    }
    return { total, count, msgs };
  },
  async *chat(requests: AsyncIterable<CountReply>) {
    for await (const r of requests) yield { i: r.i, msg: `${r.msg}!` };
  },
  async fail(req: FailRequest) {
    if (req.panic) throw new Error("handler panicked");
    throw new ServerError(req.code as Status, req.message);
  },
};

/**
 * A complete implementation from some handlers: the others answer UNIMPLEMENTED, as a method a
 * server does not serve would (server.add takes complete implementations only).
 */
export function withUnimplemented<S extends ServiceDefinition>(
  definition: S,
  handlers: Partial<ServiceImplementation<S, CallContext>>,
): ServiceImplementation<S, CallContext> {
  const out: Record<string, unknown> = { ...handlers };
  for (const [key, m] of Object.entries(definition.methods)) {
    if (typeof out[key] === "function") continue;
    const fail = (): never => {
      throw new ServerError(Status.UNIMPLEMENTED, `${definition.fullName}/${m.name} is not implemented`);
    };
    out[key] = m.responseStream
      ? async function* () {
          yield fail();
        }
      : async () => fail();
  }
  return out as ServiceImplementation<S, CallContext>;
}
