/**
 * One side of a benchmark scenario, in its own process.
 *   node peer.js server <bare|bare-proto|ours|grpcjs|stream-bare|stream-ours> <nats-url> [grpc-port]
 *   node peer.js client <scenario> <nats-url> <ms> <inflight> [grpc-port]
 * A client prints "start" when its measured window begins, "stop" when it ends, then one
 * JSON line of results. A server prints "ready".
 */
import { connect, type NatsConnection } from "nats";
import * as grpc from "@grpc/grpc-js";
import { createClient, createServer } from "../src/index.js";
import { FindNodeReply, FindNodeRequest, ISLBDefinition } from "../generated/islb/islb.js";
import { TestServiceDefinition } from "../generated/testing/test.js";
import { reply, replyBytes, request, requestBytes, requestJson } from "./fixtures.js";
import { withUnimplemented } from "../test/helpers/services.js";
import { load, pct } from "./load.js";

const [role, kind, url, ...rest] = process.argv.slice(2) as [string, string, string, ...string[]];
const SUBJECT = "nrpc.islb.ISLB.FindNode";
const BARE = "bench.bare.FindNode";
const STREAM = "bench.stream";

const grpcService = {
  FindNode: {
    path: "/islb.ISLB/FindNode",
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: FindNodeRequest) => Buffer.from(FindNodeRequest.encode(m).finish()),
    requestDeserialize: (b: Buffer) => FindNodeRequest.decode(b),
    responseSerialize: (m: FindNodeReply) => Buffer.from(FindNodeReply.encode(m).finish()),
    responseDeserialize: (b: Buffer) => FindNodeReply.decode(b),
  },
} satisfies grpc.ServiceDefinition;

async function server(): Promise<void> {
  if (kind === "grpcjs") {
    const s = new grpc.Server();
    s.addService(grpcService, {
      FindNode: (_call: unknown, cb: grpc.sendUnaryData<FindNodeReply>) => cb(null, FindNodeReply.fromPartial(reply)),
    });
    await new Promise<void>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${rest[0]}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
  } else {
    const nc = await connect({ servers: url });
    if (kind === "bare") {
      nc.subscribe(BARE, { callback: (_e, m) => m.respond(replyBytes) });
    } else if (kind === "bare-proto") {
      // The same work as ours, written by hand on nats.js: decode, an async handler, encode.
      const handler = async (_req: FindNodeRequest): Promise<FindNodeReply> => reply;
      nc.subscribe(BARE, {
        callback: (_e, m) => {
          void handler(FindNodeRequest.decode(m.data)).then((r) => m.respond(FindNodeReply.encode(r).finish()));
        },
      });
    } else if (kind === "ours") {
      const s = createServer();
      s.add(ISLBDefinition, withUnimplemented(ISLBDefinition, { findNode: async () => reply }));
      await s.listen(nc);
    } else if (kind === "stream-bare") {
      nc.subscribe(`${STREAM}.go`, {
        callback: (_e, m) => {
          const n = Number(new TextDecoder().decode(m.data));
          const to = m.reply as string;
          void (async () => {
            for (let i = 0; i < n; i++) {
              nc.publish(to, replyBytes);
              if (i % 256 === 255) await nc.flush();
            }
            nc.publish(to, new Uint8Array(0));
          })();
        },
      });
    } else if (kind === "stream-ours") {
      const s = createServer();
      s.add(TestServiceDefinition, {
        async *streamingOutputCall(req: { responseParameters: { size: number }[] }) {
          const body = Buffer.from(replyBytes);
          for (let i = 0; i < req.responseParameters.length; i++) yield { payload: { body } };
        },
      } as never);
      await s.listen(nc);
    }
    await nc.flush();
  }
  process.stdout.write("ready\n");
}

async function client(): Promise<void> {
  const ms = Number(rest[0]);
  const inflight = Number(rest[1]);
  let nc: NatsConnection | undefined;
  let call: () => Promise<unknown>;
  if (kind === "grpcjs") {
    const Ctor = grpc.makeGenericClientConstructor(grpcService, "ISLB");
    const c = new Ctor(`127.0.0.1:${rest[2]}`, grpc.credentials.createInsecure()) as unknown as {
      FindNode(r: FindNodeRequest, cb: (e: unknown, r: FindNodeReply) => void): void;
    };
    call = () => new Promise((resolve, reject) => c.FindNode(request, (e, r) => (e ? reject(e) : resolve(r))));
  } else {
    nc = await connect({ servers: url, noAsyncTraces: kind !== "bare-default" });
    const conn = nc;
    if (kind === "bare-default" || kind === "bare-noasync") {
      call = () => conn.request(BARE, requestBytes, { timeout: 5000 });
    } else if (kind === "bare-proto") {
      call = async () =>
        FindNodeReply.decode(
          (await conn.request(BARE, FindNodeRequest.encode(request).finish(), { timeout: 5000 })).data,
        );
    } else if (kind === "native-binary") {
      const c = createClient(ISLBDefinition, conn);
      call = () => c.findNode(request);
    } else if (kind === "native-json") {
      call = async () =>
        FindNodeReply.fromJSON(
          JSON.parse(new TextDecoder().decode((await conn.request(SUBJECT, requestJson, { timeout: 5000 })).data)),
        );
    } else if (kind === "compat") {
      const c = createClient(ISLBDefinition, conn, { wire: "nats-grpc" });
      call = () => c.findNode(request);
    } else if (kind === "stream-ours") {
      const c = createClient(TestServiceDefinition, conn);
      const req = {
        responseParameters: Array.from({ length: 10_000 }, () => ({ size: 0, intervalUs: 0 })),
        payload: undefined,
        responseStatus: undefined,
      };
      call = async () => {
        let k = 0;
        for await (const _ of c.streamingOutputCall(req)) k++;
        return k;
      };
    } else if (kind === "stream-bare") {
      call = () =>
        new Promise<number>((resolve) => {
          const inbox = `${STREAM}.in.${Math.random().toString(36).slice(2)}`;
          let k = 0;
          const sub = conn.subscribe(inbox, {
            callback: (_e, m) => {
              if (m.data.length === 0) {
                sub.unsubscribe();
                resolve(k);
              } else k++;
            },
          });
          void conn
            .flush()
            .then(() => conn.publish(`${STREAM}.go`, new TextEncoder().encode("10000"), { reply: inbox }));
        });
    } else {
      throw new Error(`unknown client kind ${kind}`);
    }
  }
  const { calls, lat } = await load(call, ms, inflight);
  const streamed = kind.startsWith("stream-") ? calls * 10_000 : 0;
  process.stdout.write(`${JSON.stringify({ calls, messages: streamed, p50: pct(lat, 50), p99: pct(lat, 99) })}\n`);
  await nc?.close();
  process.exit(0);
}

process.on("SIGINT", () => process.exit(0));
await (role === "server" ? server() : client());
