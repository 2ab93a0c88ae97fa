/**
 * An islb instance with N nodes preloaded, for the ISLB benchmark:
 *   node islb-peer.js <nats-url> <nodes> [redis-url]
 * Prints "ready" when serving.
 */
import { defaults } from "../src/cli/config.js";
import { serve } from "../src/cli/serve.js";
import { silentLogger } from "../src/log.js";
import { fleetRecord } from "./fixtures.js";

const [url, n, redisUrl] = process.argv.slice(2) as [string, string, string | undefined];
const running = await serve(
  {
    ...defaults(),
    http: "",
    nats: { url },
    nid: "islb-bench",
    leaseMs: 600_000,
    redis: redisUrl ? { addrs: [], db: 0, url: redisUrl, prefix: "bench:" } : undefined,
  },
  silentLogger,
);
const now = Date.now();
const writes: Promise<unknown>[] = [];
for (let i = 0; i < Number(n); i++) {
  writes.push(running.store.register(fleetRecord(i, now), `tok-${i}`));
  if (writes.length >= 1000) await Promise.all(writes.splice(0));
}
await Promise.all(writes);
process.on("SIGINT", () => void running.close().then(() => process.exit(0)));
process.stdout.write("ready\n");
