/**
 * islb's spans, through OpenTelemetry's API only: with no SDK registered (the default) every
 * span is a non-recording no-op, so tracing costs next to nothing until an operator turns it
 * on (otlp.ts) or an embedder registers a provider of its own.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { VERSION } from "../version.js";

/** The tracer islb's own spans come from. */
export const tracer: Tracer = trace.getTracer("islb", VERSION);

/**
 * Runs `fn` in a client span named `name` (a call islb makes to its store): ended when `fn`
 * settles, with the error recorded when it throws.
 */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}
