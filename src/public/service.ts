/**
 * `islb/service`: the ISLB service to embed in your own process: a whole islb from a config
 * (`startIslb`, the composition root `islb serve` runs, stopped in reverse by `close()`), or
 * its parts: the service implementation over a store and a balancer, the memory and Redis
 * stores, and the health status.
 */
export { startIslb, type Islb, type StartOptions, type NatsHandle } from "../app/islb.js";
export { serve, openStore, type Running } from "../cli/serve.js";
export { defaults, loadConfig, ConfigError, type Config, type NatsConfig, type RedisConfig } from "../cli/config.js";
export { createIslbService, type IslbOptions, type IslbHooks, type Lookup } from "../islb/service.js";
export { Balancer, type BalancerOptions } from "../balancer/balancer.js";
export type { Measure } from "../balancer/score.js";
export { MemoryStore, type MemoryStoreOptions } from "../registry/memory.js";
export { RedisStore, type RedisStoreOptions } from "../registry/redis.js";
export type { RegistryStore, NodeRecord, RegistryEvent, ChangeType } from "../registry/types.js";
export { HealthStatus, ServingStatus } from "../health/health.js";
