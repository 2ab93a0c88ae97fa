/** A nats-server, a connection and a server with the test services, for one test file. */
import { connect, type NatsConnection } from "nats";
import { createServer, type NatsServer, type ServerOptions } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";
import { TestServiceDefinition } from "../../generated/testing/test.js";
import { startNatsServer, type NatsServerProcess } from "./nats-server.js";
import { interopService, testService } from "./services.js";

export interface Env {
  ns: NatsServerProcess;
  /** The client's connection. */
  nc: NatsConnection;
  /** The server's connection. */
  snc: NatsConnection;
  server: NatsServer;
  close(): Promise<void>;
}

export async function startEnv(options: ServerOptions = {}): Promise<Env> {
  const ns = await startNatsServer();
  const nc = await connect({ servers: ns.url, noAsyncTraces: true });
  const snc = await connect({ servers: ns.url });
  const server = createServer({ nid: "t1", ...options });
  server.add(TestServiceDefinition, testService as never);
  server.add(TestDefinition, interopService);
  await server.listen(snc);
  return {
    ns,
    nc,
    snc,
    server,
    async close() {
      await server.close();
      await nc.close();
      await snc.close();
      await ns.stop();
    },
  };
}

/** Collects an AsyncIterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** An AsyncIterable of the given items. */
export async function* items<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

/** Waits until `cond` holds or `ms` pass; returns whether it held. */
export async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}
