/**
 * What a handler's CallContext gives, unary and streaming, with and without middleware: the
 * request metadata, the peer, a signal, response header and trailer, sendHeader (also read off
 * the context on its own), and, through a middleware that extends the context the nice-grpc
 * way (`{...context, extra}`), every one of those members next to the extra one.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CallContext, ServerMiddleware } from "nice-grpc-common";
import { Metadata, createClient, createServer } from "../../src/index.js";
import { TestDefinition, type CountReply, type CountRequest } from "../../generated/testing/interop.js";
import { interopService } from "../helpers/services.js";
import { collect, startEnv, type Env } from "../helpers/setup.js";

let env: Env;
before(async () => {
  env = await startEnv();
});
after(() => env.close());

interface Seen {
  who: string | undefined;
  peer: string;
  aborted: boolean;
  user?: unknown;
}

/** Reads every member of the context the way handlers do, and answers with what it saw. */
function look(ctx: CallContext & { user?: unknown }): Seen {
  const { sendHeader } = ctx;
  ctx.header.set("h-who", ctx.metadata.get("x-who") ?? "");
  sendHeader();
  ctx.trailer.set("t-who", ctx.metadata.get("x-who") ?? "");
  return { who: ctx.metadata.get("x-who"), peer: ctx.peer, aborted: ctx.signal.aborted, user: ctx.user };
}

const service = {
  ...interopService,
  async hello(req: CountReply, ctx: CallContext) {
    return { i: req.i, msg: JSON.stringify(look(ctx)) };
  },
  async *count(req: CountRequest, ctx: CallContext) {
    yield { i: req.n, msg: JSON.stringify(look(ctx)) };
  },
};

/** The nice-grpc idiom: the context spread into a new one with something added. */
const extend: ServerMiddleware<{ user: string }> = async function* (call, context) {
  return yield* call.next(call.request, { ...context, user: "u1" });
};

for (const withMiddleware of [false, true]) {
  describe(withMiddleware ? "through a middleware that spreads the context" : "with no middleware", () => {
    test("a handler reads metadata, peer, signal, header, trailer and sendHeader, unary and streaming", async () => {
      const prefix = withMiddleware ? "ctxm" : "ctx";
      const server = withMiddleware ? createServer({ prefix }).use(extend) : createServer({ prefix });
      server.add(TestDefinition, service);
      await server.listen(env.snc);
      try {
        const client = createClient(TestDefinition, env.nc, { prefix });
        const got: { header?: Metadata; trailer?: Metadata } = {};
        const opts = {
          metadata: Metadata({ "x-who": "alice" }),
          onHeader: (h: Metadata) => (got.header = h),
          onTrailer: (t: Metadata) => (got.trailer = t),
        };
        const unary = JSON.parse((await client.hello({ i: 1, msg: "" }, opts)).msg) as Seen;
        const [streamed] = await collect(client.count({ n: 2, prefix: "", failAt: 0, failCode: 0 }, opts));
        for (const seen of [unary, JSON.parse(streamed?.msg ?? "{}") as Seen]) {
          assert.equal(seen.who, "alice");
          assert.match(seen.peer, /^nats:/);
          assert.equal(seen.aborted, false);
          assert.equal(seen.user, withMiddleware ? "u1" : undefined);
        }
        assert.equal(got.header?.get("h-who"), "alice");
        assert.equal(got.trailer?.get("t-who"), "alice");
      } finally {
        await server.close();
      }
    });
  });
}
