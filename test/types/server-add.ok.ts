/**
 * Must compile (test/unit/types.test.ts): a complete implementation using its CallContext,
 * and a client whose middleware's call options are typed by `use`.
 */
import { retryMiddleware } from "nice-grpc-client-middleware-retry";
import type { NatsConnection } from "nats";
import { createClientFactory, createServer } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";

createServer().add(TestDefinition, {
  async hello(req, ctx) {
    ctx.header.set("x", "y");
    if (ctx.signal.aborted) throw new Error("gone");
    return { i: req.i + 1, msg: ctx.metadata.get("m") ?? "" };
  },
  async *count(req) {
    yield { i: req.n };
  },
  async sum(requests) {
    let total = 0;
    for await (const r of requests) total += r.i;
    return { total };
  },
  async *chat(requests, ctx) {
    for await (const r of requests) yield { ...r, msg: ctx.peer };
  },
  async fail() {
    return {};
  },
});

export async function typedRetry(nc: NatsConnection): Promise<number> {
  const client = createClientFactory().use(retryMiddleware).create(TestDefinition, nc);
  const r = await client.hello({ i: 1 }, { retry: true, retryMaxAttempts: 2, deadline: 1000 });
  return r.i;
}
