/**
 * Turns tracing on as OpenTelemetry users expect: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_TRACES_EXPORTER` is not `none`, islb
 * registers the Node SDK's tracer provider with a batching OTLP/HTTP exporter (the endpoint,
 * headers and other OTEL_* settings read by the exporter itself) and the W3C propagator.
 * The SDK packages are optional dependencies, loaded only then.
 */
import type { Logger } from "../log.js";
import { VERSION } from "../version.js";

/** A running SDK: flushes and stops on `shutdown`. */
export interface Tracing {
  readonly endpoint: string;
  shutdown(): Promise<void>;
}

/** Whether the environment asks for traces to be exported. */
export function tracingWanted(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if ((env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").includes("none")) return undefined;
  return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
}

/** Starts the SDK when the environment asks for it; undefined when it does not. */
export async function startTracingFromEnv(
  serviceName: string,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tracing | undefined> {
  const endpoint = tracingWanted(env);
  if (endpoint === undefined) return undefined;
  let sdk: typeof import("@opentelemetry/sdk-trace-node");
  let otlp: typeof import("@opentelemetry/exporter-trace-otlp-http");
  let resources: typeof import("@opentelemetry/resources");
  try {
    [sdk, otlp, resources] = await Promise.all([
      import("@opentelemetry/sdk-trace-node"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
    ]);
  } catch (e) {
    throw new Error(
      `OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed (${(e as Error).message}); ` +
        "install @opentelemetry/sdk-trace-node, @opentelemetry/exporter-trace-otlp-http and @opentelemetry/resources, or unset it",
    );
  }
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      "service.name": env.OTEL_SERVICE_NAME || serviceName,
      "service.version": VERSION,
    }),
    spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter())],
  });
  provider.register();
  log.info({ endpoint }, "exporting traces over OTLP/HTTP");
  return { endpoint, shutdown: () => provider.shutdown() };
}
