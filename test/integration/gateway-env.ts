/**
 * A gateway in front of a test bus: a nats-server, our test services on it (node id t1),
 * and stock @grpc/grpc-js clients of the interop TestService loaded from the .proto.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { connect, type NatsConnection } from "nats";
import { Gateway, type GatewayOptions } from "../../src/gateway/server.js";
import { startEnv, type Env } from "../helpers/setup.js";
import { serveMicro } from "../../src/micro/discovery.js";

export const repoFile = (rel: string): string => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));

export interface GatewayEnv {
  env: Env;
  /** The gateway's own NATS connection. */
  gnc: NatsConnection;
  gateway: Gateway;
  /** host:port of the gateway */
  address: string;
  close(): Promise<void>;
}

/** A bus with the test services and a gateway on it; `micro` makes the server answer $SRV.INFO (so kinds are known). */
export async function startGateway(options: GatewayOptions & { micro?: boolean } = {}): Promise<GatewayEnv> {
  const env = await startEnv();
  const stopMicro =
    options.micro === true ? serveMicro(env.snc, env.server, { name: "test", id: "t1", version: "0.0.1" }) : undefined;
  const gnc = await connect({ servers: env.ns.url });
  const gateway = new Gateway(gnc, options);
  const a = await gateway.listen(0, "127.0.0.1");
  return {
    env,
    gnc,
    gateway,
    address: `127.0.0.1:${a.port}`,
    async close() {
      await gateway.close();
      stopMicro?.();
      await gnc.close();
      await env.close();
    },
  };
}

type Ctor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client & Record<string, (...args: unknown[]) => any>;

/** grpc.testing.TestService and UnimplementedService, as grpc-js makes them from test.proto. */
export function testClients(
  address: string,
  creds = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
): { test: InstanceType<Ctor>; unimplemented: InstanceType<Ctor> } {
  const def = loadSync(repoFile("proto/testing/test.proto"), { keepCase: false, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { testing: { TestService: Ctor; UnimplementedService: Ctor } };
  };
  return {
    test: new pkg.grpc.testing.TestService(address, creds, options),
    unimplemented: new pkg.grpc.testing.UnimplementedService(address, creds, options),
  };
}

/** A unary call of a grpc-js client as a promise, with the header and trailer metadata. */
export function unary<T>(
  client: InstanceType<Ctor>,
  method: string,
  request: unknown,
  md = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<{ value: T; header?: grpc.Metadata; trailer?: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let header: grpc.Metadata | undefined;
    let trailer: grpc.Metadata | undefined;
    const call = client[method]!(request, md, options, (err: grpc.ServiceError | null, value: T) => {
      if (err !== null) reject(err);
      else setImmediate(() => resolve({ value, header, trailer }));
    }) as grpc.ClientUnaryCall;
    call.on("metadata", (m: grpc.Metadata) => (header = m));
    call.on("status", (s: grpc.StatusObject) => (trailer = s.metadata));
  });
}

/** Reads a grpc-js response stream to its end. */
export function readAll<T>(
  call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>,
): Promise<{ values: T[]; header?: grpc.Metadata; trailer?: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    const values: T[] = [];
    let header: grpc.Metadata | undefined;
    let trailer: grpc.Metadata | undefined;
    call.on("metadata", (m: grpc.Metadata) => (header = m));
    call.on("data", (v: T) => values.push(v));
    call.on("status", (s: grpc.StatusObject) => {
      trailer = s.metadata;
      if (s.code === grpc.status.OK) resolve({ values, header, trailer });
    });
    call.on("error", reject);
  });
}

/** Asserts a grpc-js error has this code (and message). */
export function isGrpcStatus(code: grpc.status, details?: string) {
  return (e: unknown): boolean => {
    const err = e as grpc.ServiceError;
    if (err?.code !== code)
      throw new Error(
        `expected ${grpc.status[code]}, got ${String(err?.code)} (${grpc.status[err?.code as number]}): ${err?.details}`,
      );
    if (details !== undefined && err.details !== details)
      throw new Error(`expected message ${JSON.stringify(details)}, got ${JSON.stringify(err.details)}`);
    return true;
  };
}
