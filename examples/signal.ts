/**
 * A signalling node, ion's way: a peer asks to join a room (here over HTTP:
 * GET /join?room=room42&uid=alice); the signaller asks islb which "rtc" node hosts the room
 * (islb places a new room on the least loaded node, and every caller gets the same one), then
 * calls that node directly, by its nid, with the typed client.
 *
 *   node examples/dist/signal.js           (NATS_URL; PORT, default 8080)
 */
import { createServer as createHttpServer } from "node:http";
import { connect } from "nats";
import { ClientError, createClient, ISLBDefinition, Status } from "islb";
import { SFUDefinition } from "./generated/sfu/v1/sfu.js";

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222", name: "signal" });
const islb = createClient(ISLBDefinition, nc);
const sfu = createClient(SFUDefinition, nc);

async function join(room: string, uid: string): Promise<{ status: number; body: unknown }> {
  const { nodes } = await islb.findNode({ service: "rtc", sid: room }, { deadline: 2000 });
  const node = nodes[0];
  if (node === undefined) return { status: 503, body: { error: "no rtc node is available" } };
  const reply = await sfu.join({ sid: room, uid, offer: "v=0 …" }, { nid: node.nid, deadline: 2000 });
  return { status: 200, body: { room, uid, nid: reply.nid, peers: reply.peers } };
}

const http = createHttpServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://signal");
  const room = url.searchParams.get("room") ?? "";
  const uid = url.searchParams.get("uid") ?? "";
  const answer =
    url.pathname !== "/join"
      ? Promise.resolve({ status: 404, body: { error: "GET /join?room=&uid=" } })
      : join(room, uid);
  answer
    .catch((e: unknown) => {
      if (!(e instanceof ClientError)) return { status: 500, body: { error: String(e) } };
      const status =
        e.code === Status.INVALID_ARGUMENT
          ? 400
          : e.code === Status.NOT_FOUND || e.code === Status.UNAVAILABLE
            ? 503
            : 502;
      return { status, body: { error: `${Status[e.code]}: ${e.details}` } };
    })
    .then(({ status, body }) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body)),
    );
});
http.listen(Number(process.env.PORT ?? 8080), () =>
  console.log(JSON.stringify({ msg: "signal listening", address: http.address() })),
);

const stop = (): void => {
  http.close();
  void nc.drain();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
