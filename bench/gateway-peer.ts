/**
 * The gateway benchmark's own processes (the grpc-js server and client are bench/peer.ts's).
 *   node gateway-peer.js server <nats-url> [micro|nomicro]   our ISLB FindNode server on NATS
 *   node gateway-peer.js gateway <nats-url> <port>           the gateway, on 127.0.0.1:<port>
 * Each prints "ready".
 */
import { connect } from "nats";
import { ISLBDefinition } from "../generated/islb/islb.js";
import { createServer } from "../src/index.js";
import { Gateway } from "../src/gateway/server.js";
import { serveMicro } from "../src/micro/discovery.js";
import { reply } from "./fixtures.js";

const [role, url, arg] = process.argv.slice(2) as [string, string, string | undefined];
const nc = await connect({ servers: url, noAsyncTraces: true });
if (role === "server") {
  const s = createServer({ nid: "bench-1" });
  s.add(ISLBDefinition, { findNode: async () => reply } as never); // the other methods: UNIMPLEMENTED
  await s.listen(nc);
  if (arg !== "nomicro") serveMicro(nc, s, { name: "bench", id: "bench-1", version: "0.0.0" });
} else {
  const g = new Gateway(nc);
  await g.listen(Number(arg), "127.0.0.1");
}
await nc.flush();
process.stdout.write("ready\n");
process.on("SIGINT", () => process.exit(0));
