/** A server in its own process, for tests that kill it: `node child-server.js <nats-url> <nid>`. */
import { connect } from "nats";
import { createServer } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { TestServiceDefinition } from "../../generated/testing/test.js";
import { interopService, testService } from "./services.js";

const [url, nid] = process.argv.slice(2);
const nc = await connect({ servers: url });
const server = createServer({ nid });
server.add(TestServiceDefinition, testService as never);
server.add(TestDefinition, interopService);
await server.listen(nc);
process.stdout.write("ready\n");
