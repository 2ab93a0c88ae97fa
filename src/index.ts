/** islb's public surface: the gRPC-over-NATS transport and its pieces. */
export { createServer, NatsServer, type ServerOptions, type ServerStats } from "./transport/server.js";
export { createClient, createClientFactory, type ClientFactory, type ClientOptions, type CreateClientOptions, type FactoryClientOptions } from "./transport/client.js";
export type { Client, NatsCallOptions, ServiceDefinition, ServiceImplementation, DeepPartial } from "./transport/definition.js";
export { Status, ServerError, ClientError, statusName, statusFromName, type StatusInfo } from "./status.js";
export { Metadata } from "./metadata.js";
export { DEFAULT_PREFIX, methodSubject, tokenProblem } from "./subjects.js";
export { encodeTimeout, parseTimeout } from "./deadline.js";
export { defaultLogger, silentLogger, stderrLogger, type Logger } from "./log.js";
