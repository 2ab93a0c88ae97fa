/**
 * `islb/messages`: every generated message and definition of islb.proto, ion.proto's messages
 * and gRPC health (ts-proto output, with their `encode`/`decode`/`fromJSON`/`toJSON`).
 */
export * from "../../generated/islb/islb.js";
export { Node, RPC, RPC_ParamsEntry, Empty } from "../../generated/ion/ion.js";
export {
  HealthDefinition,
  type HealthClient,
  type HealthServiceImplementation,
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from "../../generated/grpc/health/v1/health.js";
