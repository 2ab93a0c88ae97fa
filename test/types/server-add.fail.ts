/**
 * Must NOT compile (test/unit/types.test.ts runs tsc on it and expects exactly these errors):
 * server.add takes a complete implementation whose handlers get nice-grpc's CallContext.
 */
import { createClient, createServer } from "../../src/index.js";
import { TestDefinition } from "../../generated/testing/interop.js";

const server = createServer();

// A missing method (only hello): TS2345, the argument lacks count, sum, chat and fail.
server.add(TestDefinition, {
  async hello(req) {
    return req;
  },
});

// A misuse of the context: TS2339, there is no ctx.totallyBogus.
server.add(TestDefinition, {
  async hello(req, ctx) {
    ctx.totallyBogus();
    return req;
  },
  async *count() {},
  async sum() {
    return {};
  },
  async *chat() {},
  async fail() {
    return {};
  },
});

// Call options of a middleware the client does not use: TS2353, `retry` is not a known option.
export async function untypedRetry(nc: import("nats").NatsConnection): Promise<void> {
  await createClient(TestDefinition, nc).hello({ i: 1 }, { retry: true });
}
