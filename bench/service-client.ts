/**
 * A client of the real `islb serve`, in its own process, for bench/service.ts:
 *   node service-client.js <kind> <nats-url> <inflight>
 * kinds: bare (default nc.request to the bare responder), list, list-deadline, new, known,
 * heartbeat. It stays up for the whole run (warm, connected) and measures one window per line
 * "<ms> <window>" on stdin: "start" and "stop" around the window, then one JSON line. It
 * prints "ready" once connected and ends when stdin does.
 */
import { connect } from "nats";
import { createClient } from "../src/index.js";
import { ISLBDefinition } from "../generated/islb/islb.js";
import { requestBytes } from "./fixtures.js";
import { createInterface } from "node:readline";
import { load, pct } from "./load.js";
import {
  BARE_SUBJECT,
  FLEET,
  KNOWN,
  LIST_SERVICE,
  SESSION_SERVICE,
  heartbeatOf,
  registration,
} from "./service-fleet.js";

const [kind, url, inflightArg] = process.argv.slice(2) as [string, string, string];
/** The window being measured: new sessions are new in every one. */
let runId = "";
const nc = await connect({ servers: url });
const client = createClient(ISLBDefinition, nc);
const list = { service: LIST_SERVICE, sid: "", nid: "", region: "", dc: "", limit: 0 };
const session = (sid: string) => ({ service: SESSION_SERVICE, sid, nid: "", region: "r1", dc: "", limit: 0 });
const calls: Record<string, (i: number) => Promise<unknown>> = {
  bare: () => nc.request(BARE_SUBJECT, requestBytes, { timeout: 5000 }),
  list: () => client.findNode(list),
  "list-deadline": () => client.findNode(list, { deadline: 5000 }),
  "list-deadline-date": () => client.findNode(list, { deadline: new Date(Date.now() + 5000) }),
  new: (i) => client.findNode(session(`new-${runId}-${i}`)),
  known: (i) => client.findNode(session(`known-${i % KNOWN}`)),
  heartbeat: (i) => client.heartbeat(heartbeatOf(i % FLEET, i)),
  // As the agent sends them: with the registration, and a deadline.
  "heartbeat-agent": (i) =>
    client.heartbeat(
      { ...heartbeatOf(i % FLEET, i), registration: registration(SESSION_SERVICE, i % FLEET).registration },
      { deadline: 2000 },
    ),
};
const call = calls[kind];
if (call === undefined) throw new Error(`unknown kind ${kind}`);
process.stdout.write("ready\n");
// The first window warms the process (JIT, connections) for 700 ms; later ones only refill the pipeline.
let warmMs = 700;
for await (const line of createInterface({ input: process.stdin })) {
  const [msArg, window] = line.split(" ") as [string, string];
  runId = window;
  const { calls: n, lat } = await load(call, Number(msArg), Number(inflightArg), warmMs);
  warmMs = 100;
  process.stdout.write(`${JSON.stringify({ calls: n, messages: 0, p50: pct(lat, 50), p99: pct(lat, 99) })}\n`);
}
await nc.close();
process.exit(0);
