/**
 * W3C trace context across the bus: a client middleware that starts a client span and puts
 * `traceparent` / `tracestate` of the active context into the call's metadata (which the
 * transport carries as NATS headers on unary calls and in the Call frame's metadata on streams
 * and nats-grpc compat calls), and a server middleware that makes the caller's context the
 * parent of the handler's span. Both are nice-grpc-opentelemetry's, which speaks nice-grpc's
 * middleware types, as our transport does.
 */
import { openTelemetryClientMiddleware, openTelemetryServerMiddleware } from "nice-grpc-opentelemetry";

/** The client middleware: `createClient(def, nc, { middleware: [tracingClientMiddleware()] })`. */
export const tracingClientMiddleware = openTelemetryClientMiddleware;

/** The server middleware: `createServer().use(tracingServerMiddleware())`. */
export const tracingServerMiddleware = openTelemetryServerMiddleware;
