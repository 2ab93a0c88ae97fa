/** A node in its own process, for tests that kill it: `node child-agent.js <nats-url> <nid> <lease-ms>`. */
import { connect } from "nats";
import { NodeAgent } from "../../src/agent/agent.js";

const [url, nid, lease] = process.argv.slice(2) as [string, string, string];
const nc = await connect({ servers: url });
const agent = new NodeAgent(nc, { registration: { node: { nid, service: "rtc", dc: "dc1" } }, leaseMs: Number(lease) });
await agent.start();
process.stdout.write("ready\n");
