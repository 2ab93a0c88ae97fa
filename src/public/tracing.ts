/**
 * `islb/tracing`: W3C trace context across the bus with OpenTelemetry. The middlewares start
 * client and server spans and carry `traceparent`/`tracestate` in the call's metadata; islb's
 * own spans (the Redis store's placements) come from `tracer`. All of it is OpenTelemetry's
 * API: a no-op until a tracer provider is registered (yours, or `startTracingFromEnv`'s).
 */
export { tracingClientMiddleware, tracingServerMiddleware } from "../tracing/middleware.js";
export { tracer, inSpan } from "../tracing/tracer.js";
export { startTracingFromEnv, tracingWanted, type Tracing } from "../tracing/otlp.js";
