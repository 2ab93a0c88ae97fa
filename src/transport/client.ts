/**
 * A typed client for a ts-proto service definition, over NATS: promises for unary calls,
 * AsyncIterables for streams, AbortSignal, deadline, metadata and header/trailer callbacks,
 * and nice-grpc client middleware.
 */
import type { NatsConnection } from "nats";
import { composeClientMiddleware, type ClientMiddleware } from "nice-grpc-common";
import { ClientFrameCall } from "./client-call.js";
import { Status } from "../status.js";
import { clientError, publishFor, type ClientCore } from "./client-core.js";
import {
  DEFAULTS,
  prefixProblem,
  resolveClientOptions,
  type ClientOptions,
  type ResolvedClientOptions,
} from "./options.js";
import { unaryCall } from "./client-unary.js";
import {
  resolveMethods,
  type Client,
  type NatsCallOptions,
  type ResolvedMethod,
  type ServiceDefinition,
} from "./definition.js";
import { keepaliveFor } from "./keepalive.js";
import { deadlineWheelFor } from "./deadline-wheel.js";
import { muxFor } from "./mux.js";
import { outboxFor } from "./outbox.js";

export type { ClientOptions };

function resolveOptions(nc: NatsConnection, o: ClientOptions): ResolvedClientOptions {
  const p = prefixProblem(o);
  if (p !== undefined) throw new Error(p);
  return resolveClientOptions(o, nc.info?.max_payload);
}

/** Starts a frame call: the Call frame, then its requests pumped in the background. */
function startFrameCall(
  core: ClientCore,
  method: ResolvedMethod,
  request: unknown,
  options: NatsCallOptions,
): ClientFrameCall {
  const call = new ClientFrameCall(core, method, options);
  call.start();
  const stream = method.definition.requestStream;
  void call.pump(stream ? (request as AsyncIterable<unknown>) : undefined, stream ? undefined : request);
  return call;
}

/** Starts a frame call and yields its responses. */
async function* frameCall(
  core: ClientCore,
  method: ResolvedMethod,
  request: unknown,
  options: NatsCallOptions,
): AsyncGenerator<unknown, void, undefined> {
  yield* startFrameCall(core, method, request, options).responses;
}

/** A frame call started by the first read of its responses (as nice-grpc's streams start), read straight from its queue. */
function lazyFrameCall(
  core: ClientCore,
  method: ResolvedMethod,
  request: unknown,
  options: NatsCallOptions,
): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<unknown> {
      let it: AsyncIterator<unknown> | undefined;
      return {
        next: () => {
          try {
            it ??= startFrameCall(core, method, request, options).responses[Symbol.asyncIterator]();
          } catch (e) {
            return Promise.reject(e);
          }
          return it.next();
        },
        return: () =>
          (it?.return?.() ?? Promise.resolve({ value: undefined, done: true })) as Promise<IteratorResult<unknown>>,
      };
    },
  };
}

/** One response message from a frame call (unary over compat, client streaming). */
async function singleFrameCall(
  core: ClientCore,
  method: ResolvedMethod,
  request: unknown,
  options: NatsCallOptions,
): Promise<unknown> {
  let result: unknown;
  let seen = false;
  for await (const r of frameCall(core, method, request, options)) {
    if (!seen) result = r;
    seen = true;
  }
  if (!seen) throw clientError(method.path, Status.INTERNAL, "the server ended the call without a response message");
  return result;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}

/** The base of the middleware chain: the call itself, in nice-grpc's generator form. */
function baseCall(core: ClientCore, method: ResolvedMethod) {
  const d = method.definition;
  if (d.responseStream) {
    return async function* (request: unknown, options: NatsCallOptions): AsyncGenerator<unknown, void, undefined> {
      yield* frameCall(core, method, request, options);
    };
  }
  const one = !d.requestStream && core.options.wire === "native" ? unaryCall : singleFrameCall;
  return async function* (request: unknown, options: NatsCallOptions): AsyncGenerator<never, unknown, undefined> {
    return await one(core, method, request, options);
  };
}

function makeMethod(
  core: ClientCore,
  method: ResolvedMethod,
  middleware: ClientMiddleware | undefined,
  defaults: NatsCallOptions,
) {
  const d = method.definition;
  const base = baseCall(core, method);
  const checkRequest = (request: unknown): void => {
    if (d.requestStream !== isAsyncIterable(request)) {
      throw new TypeError(
        `${method.path} takes ${d.requestStream ? "an AsyncIterable of requests" : "a single request"}`,
      );
    }
  };
  const run = (request: unknown, options: NatsCallOptions): AsyncGenerator<unknown, unknown, undefined> =>
    middleware === undefined
      ? base(request, options)
      : (middleware(
          {
            method: method.descriptor,
            requestStream: d.requestStream,
            request,
            responseStream: d.responseStream,
            next: base,
          } as never,
          options,
        ) as AsyncGenerator<unknown, unknown, undefined>);
  if (d.responseStream) {
    if (middleware === undefined) {
      // No middleware: the caller reads the call's own message queue, with no generator in between.
      return (request: unknown, options?: NatsCallOptions): AsyncIterable<unknown> => {
        checkRequest(request);
        return lazyFrameCall(core, method, request, { ...defaults, ...options });
      };
    }
    return (request: unknown, options?: NatsCallOptions): AsyncIterable<unknown> => {
      checkRequest(request);
      return run(request, { ...defaults, ...options });
    };
  }
  if (middleware === undefined && !d.requestStream && core.options.wire === "native") {
    // The call's own options as they are when there are no defaults to merge (no copy per call).
    const noDefaults = Object.keys(defaults).length === 0;
    return (request: unknown, options?: NatsCallOptions): Promise<unknown> =>
      unaryCall(
        core,
        method,
        request,
        options === undefined ? defaults : noDefaults ? options : { ...defaults, ...options },
      );
  }
  return async (request: unknown, options?: NatsCallOptions): Promise<unknown> => {
    checkRequest(request);
    const it = run(request, { ...defaults, ...options });
    const r = await it.next();
    if (r.done !== true)
      throw new Error(`a middleware yielded a message for ${method.path}, which has a single response`);
    if (r.value === undefined) throw new Error(`a middleware returned no response for ${method.path}`);
    return r.value;
  };
}

/** Options of `createClient`. */
export interface CreateClientOptions extends ClientOptions {
  /** nice-grpc client middleware, outermost first. */
  middleware?: ClientMiddleware<any, any>[];
  /** Options every call starts from (a call's own options win). */
  defaultCallOptions?: NatsCallOptions;
}

/** A typed client of `definition` over the NATS connection `nc`. */
export function createClient<S extends ServiceDefinition>(
  definition: S,
  nc: NatsConnection,
  options: CreateClientOptions = {},
): Client<S> {
  const resolved = resolveOptions(nc, options);
  const maxPayload = nc.info?.max_payload ?? DEFAULTS.maxMessageBytes;
  const outbox = outboxFor(nc);
  const core: ClientCore = {
    nc,
    mux: muxFor(nc),
    keepalive: keepaliveFor(nc),
    deadlines: deadlineWheelFor(nc),
    options: resolved,
    publish: (path, subject, data, opts) => publishFor(nc, maxPayload, path, subject, data, opts),
    queue: (path, subject, data, opts, onError) => {
      if (data.length > maxPayload)
        throw clientError(
          path,
          Status.RESOURCE_EXHAUSTED,
          `message of ${data.length} bytes is over the NATS max_payload of ${maxPayload}`,
        );
      outbox.publish(subject, data, opts, (e) => {
        try {
          publishFor(nc, maxPayload, path, subject, data, opts); // again, to turn NATS's error into a status
          onError(clientError(path, Status.INTERNAL, `cannot publish to ${subject}: ${(e as Error).message}`));
        } catch (status) {
          onError(status);
        }
      });
    },
    flush: () => outbox.flush(),
  };
  const mws = options.middleware ?? [];
  const middleware = mws.length === 0 ? undefined : mws.reduce((a, b) => composeClientMiddleware(a, b));
  const client: Record<string, unknown> = Object.create(null);
  for (const [key, m] of resolveMethods(definition))
    client[key] = makeMethod(core, m, middleware as ClientMiddleware | undefined, options.defaultCallOptions ?? {});
  return client as Client<S>;
}

/**
 * Makes clients with a chain of middleware whose call options are typed (nice-grpc's
 * `createClientFactory`): `createClientFactory().use(retryMiddleware).create(def, nc)` takes
 * `{ retry: true }` in its calls' options, without a cast.
 */
export interface ClientFactory<CallOptionsExt = {}> {
  /** A factory whose clients also run `middleware` (inside the ones added before). */
  use<Ext>(middleware: ClientMiddleware<Ext, CallOptionsExt>): ClientFactory<CallOptionsExt & Ext>;
  /** A typed client of `definition` over `nc`, with this factory's middleware. */
  create<S extends ServiceDefinition>(
    definition: S,
    nc: NatsConnection,
    options?: FactoryClientOptions<CallOptionsExt>,
  ): Client<S, CallOptionsExt>;
}

/** Options of a client made by a factory: those of `createClient`, with typed default call options. */
export interface FactoryClientOptions<CallOptionsExt> extends ClientOptions {
  /** Options every call starts from (a call's own options win). */
  defaultCallOptions?: NatsCallOptions & Partial<CallOptionsExt>;
}

function factory<Ext>(middleware: ReadonlyArray<ClientMiddleware<any, any>>): ClientFactory<Ext> {
  return {
    use: (m) => factory([...middleware, m]),
    create: (definition, nc, options = {}) =>
      createClient(definition, nc, { ...options, middleware: [...middleware] }) as never,
  };
}

/** A client factory with no middleware yet (see ClientFactory). */
export function createClientFactory(): ClientFactory {
  return factory([]);
}
