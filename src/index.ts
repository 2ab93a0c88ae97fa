/**
 * islb's everyday surface (`import … from "islb"`): the gRPC-over-NATS client and server,
 * status codes, metadata and errors, deadline helpers, the node agent, and the ISLB service's
 * definition and messages. Rarer parts are behind subpaths: `islb/reflection` (reflection and
 * NATS micro discovery for your own servers), `islb/service` (embedding the ISLB service and
 * its stores) and `islb/messages` (every generated message islb ships).
 */
export { createServer, NatsServer, type ServerOptions, type ServerStats } from "./transport/server.js";
export {
  createClient,
  createClientFactory,
  type ClientFactory,
  type ClientOptions,
  type CreateClientOptions,
  type FactoryClientOptions,
} from "./transport/client.js";
export type {
  Client,
  NatsCallOptions,
  ServiceDefinition,
  ServiceImplementation,
  DeepPartial,
} from "./transport/definition.js";
export { Status, ServerError, ClientError, statusName, statusFromName, type StatusInfo } from "./status.js";
export { Metadata } from "./metadata.js";
export { DEFAULT_PREFIX, methodSubject, tokenProblem } from "./subjects.js";
export { encodeTimeout, parseTimeout } from "./deadline.js";
export { defaultLogger, silentLogger, stderrLogger, type Logger } from "./log.js";
export type { CallContext, CallOptions } from "nice-grpc-common";
export { NodeAgent, AgentStartError, type AgentOptions, type AgentStartOptions } from "./agent/agent.js";
export { VERSION } from "./version.js";
export {
  ISLBDefinition,
  type ISLBClient,
  type ISLBServiceImplementation,
  NodeState,
  FindNodeRequest,
  FindNodeReply,
  Load,
  Limits,
  Registration,
  ExtraValue,
  RegisterRequest,
  RegisterReply,
  HeartbeatRequest,
  HeartbeatReply,
  DeregisterRequest,
  WatchRequest,
  WatchEvents,
  WatchEvent,
  WatchEvent_Type,
  SessionChange,
  NodeInfo,
  ReleaseSessionRequest,
  CordonRequest,
  DrainRequest,
  NodeMark,
  NodeMark_Kind,
  NodeMarkReply,
  Explanation,
  Candidate,
  SessionConflict,
} from "../generated/islb/islb.js";
export { Node, RPC, Empty } from "../generated/ion/ion.js";
