/** An islb instance in this process, on a test nats-server (and a test redis-server when given). */
import { connect, type NatsConnection } from "nats";
import { defaults, type Config } from "../../src/app/config.js";
import { startIslb as start, type Islb } from "../../src/app/islb.js";
import { NodeAgent, type AgentOptions } from "../../src/agent/agent.js";

/** Each instance's HTTP listener on a free loopback port (several run in one test). */
export async function startIslb(nats: string | Config["nats"], over: Partial<Config> = {}): Promise<Islb> {
  const cfg: Config = {
    ...defaults(),
    http: "127.0.0.1:0",
    ...over,
    nats: typeof nats === "string" ? { url: nats } : nats,
  };
  return start(cfg);
}

export function redisConfig(url: string, prefix = "islb:"): NonNullable<Config["redis"]> {
  return { addrs: [], db: 0, url, prefix };
}

/** A node agent on its own connection, registered. */
export async function startAgent(
  natsUrl: string,
  nid: string,
  extra: Partial<AgentOptions["registration"]> = {},
  opts: Partial<AgentOptions> = {},
): Promise<{ agent: NodeAgent; nc: NatsConnection }> {
  const nc = await connect({ servers: natsUrl, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  const agent = new NodeAgent(nc, {
    registration: {
      node: { nid, service: "rtc", dc: "dc1", rpc: { protocol: "nats-grpc", addr: natsUrl } },
      region: "eu",
      ...extra,
    },
    leaseMs: 1500,
    ...opts,
  });
  await agent.start();
  return { agent, nc };
}
