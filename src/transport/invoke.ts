/**
 * Runs a server handler through the server's middleware, in nice-grpc's form, so middleware
 * published for nice-grpc (logging, metrics, tracing, error mapping) works unchanged.
 */
import type { CallContext, ServerMiddleware } from "nice-grpc-common";
import type { ResolvedMethod } from "./definition.js";

/** A handler as it sits in an implementation object. */
export type HandlerFn = (request: any, context: CallContext) => any;

/** A method of a service added to a server, with its handler. */
export interface ServedMethod extends ResolvedMethod {
  readonly handler: HandlerFn;
}

async function* callHandler(
  method: ServedMethod,
  request: unknown,
  context: CallContext,
): AsyncGenerator<unknown, unknown, undefined> {
  if (method.definition.responseStream) {
    yield* method.handler(request, context) as AsyncIterable<unknown>;
    return undefined;
  }
  return await method.handler(request, context);
}

/**
 * The handler's responses: yielded one by one for a streaming response, returned for a
 * single one. Without middleware, unary handlers are awaited directly (the fast path).
 */
export function invoke(
  method: ServedMethod,
  middleware: ServerMiddleware | undefined,
  request: unknown,
  context: CallContext,
): AsyncGenerator<unknown, unknown, undefined> {
  if (middleware === undefined) return callHandler(method, request, context);
  const d = method.definition;
  return middleware(
    {
      method: method.descriptor,
      requestStream: d.requestStream,
      request,
      responseStream: d.responseStream,
      next: (req: unknown, ctx: CallContext) => callHandler(method, req, ctx),
    } as never,
    context,
  ) as AsyncGenerator<unknown, unknown, undefined>;
}
