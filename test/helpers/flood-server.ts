/**
 * A server in its own process whose memory a test can measure: `node --expose-gc
 * flood-server.js <nats-url> <options JSON>`. It answers `flood.stats` with its server stats
 * and its heap after a full GC, so what a flood of calls leaves behind is seen alone.
 */
import { connect } from "nats";
import { createServer } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { interopService } from "./services.js";

const [url, json] = process.argv.slice(2);
const nc = await connect({ servers: url });
const server = createServer(JSON.parse(json ?? "{}")).add(TestDefinition, interopService);
await server.listen(nc);
const gc = (globalThis as { gc?: () => void }).gc;
nc.subscribe("flood.stats", {
  callback: (_e, m) => {
    gc?.();
    gc?.();
    const mem = process.memoryUsage();
    m.respond(JSON.stringify({ ...server.stats(), heapUsed: mem.heapUsed, rss: mem.rss }));
  },
});
await nc.flush();
process.stdout.write("ready\n");
