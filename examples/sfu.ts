/**
 * An SFU-like node, ion's way: it serves its own gRPC service (sfu.v1.SFU) on its node id,
 * with reflection and NATS micro discovery, and embeds the islb agent, which registers it as
 * an "rtc" node and heartbeats its load. SIGTERM/SIGINT: drain, finish calls, deregister.
 *
 *   node examples/dist/sfu.js [nid]        (NATS_URL, default nats://127.0.0.1:4222)
 */
import { readFileSync } from "node:fs";
import { connect } from "nats";
import type { CallContext } from "nice-grpc-common";
import { createServer, NodeAgent, ServerError, Status } from "islb";
import { serveReflection } from "islb/reflection";
import {
  SFUDefinition,
  type JoinRequest,
  type LeaveRequest,
  type SFUServiceImplementation,
} from "./generated/sfu/v1/sfu.js";

const nid = process.argv[2] ?? "sfu-1";
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const rooms = new Map<string, Set<string>>();

const sfu: SFUServiceImplementation = {
  async join(req: JoinRequest, ctx: CallContext) {
    if (req.sid === "" || req.uid === "") throw new ServerError(Status.INVALID_ARGUMENT, "sid and uid are required");
    ctx.signal.throwIfAborted();
    const peers = rooms.get(req.sid) ?? new Set<string>();
    rooms.set(req.sid, peers.add(req.uid));
    return { nid, answer: `answer from ${nid} to ${req.offer.length} bytes of offer`, peers: peers.size };
  },
  async leave(req: LeaveRequest) {
    const peers = rooms.get(req.sid);
    peers?.delete(req.uid);
    if (peers?.size === 0) rooms.delete(req.sid);
    return { peers: peers?.size ?? 0 };
  },
};

const nc = await connect({ servers: natsUrl, name: nid });
const server = createServer({ nid }); // nrpc.sfu.v1.SFU.<Method> and nrpc.<nid>.sfu.v1.SFU.<Method>
server.add(SFUDefinition, sfu);
serveReflection(server, nc, readFileSync(new URL("../sfu.binpb", import.meta.url)), { name: "sfu" });
await server.listen(nc);

const agent = new NodeAgent(nc, {
  registration: {
    node: { nid, service: "rtc", dc: "dc1", rpc: { protocol: "nats-grpc", addr: natsUrl } },
    softLimits: { sessions: 100 },
  },
  load: () => ({ sessions: rooms.size }),
});
await agent.start({ timeoutMs: 10_000 }); // rejects with a clear error when no islb answers
console.log(JSON.stringify({ nid, msg: "serving sfu.v1.SFU; registered with islb as an rtc node" }));

const stop = async (): Promise<void> => {
  await agent.drain(); // no new rooms here; islb places them elsewhere
  await server.close(); // calls in progress finish
  await agent.stop(); // deregisters
  await nc.drain();
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
