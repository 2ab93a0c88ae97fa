/**
 * An islb instance with N nodes preloaded, for the ISLB benchmark:
 *   node islb-peer.js <nats-url> <nodes> [redis-url]
 * Prints "ready" when serving.
 */
import { defaults } from "../src/cli/config.js";
import { serve } from "../src/cli/serve.js";
import { silentLogger } from "../src/log.js";
import { NodeState } from "../src/registry/types.js";
import { toRecord } from "../src/registry/records.js";

const [url, n, redisUrl] = process.argv.slice(2) as [string, string, string | undefined];
const running = await serve({ ...defaults(), nats: { url }, nid: "islb-bench", leaseMs: 600_000, redis: redisUrl ? { addrs: [], db: 0, url: redisUrl, prefix: "bench:" } : undefined }, silentLogger);
const zero = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
const now = Date.now();
const writes: Promise<unknown>[] = [];
for (let i = 0; i < Number(n); i++) {
  const reg = {
    node: { dc: `dc${i % 4}`, nid: `sfu-${i}`, service: "rtc", rpc: { protocol: "nats-grpc", addr: "nats://10.0.0.1:4222", params: new Map() } },
    state: NodeState.NODE_STATE_SERVING,
    region: `r${i % 4}`,
    load: { ...zero, sessions: i % 100, cpu: (i % 100) / 100 },
    softLimits: { ...zero, sessions: 1000 },
    hardLimits: { ...zero },
  };
  writes.push(running.store.register(toRecord(reg, 600_000, now), `tok-${i}`));
  if (writes.length >= 1000) await Promise.all(writes.splice(0));
}
await Promise.all(writes);
process.on("SIGINT", () => void running.close().then(() => process.exit(0)));
process.stdout.write("ready\n");
