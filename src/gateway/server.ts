/**
 * The gateway: stock gRPC, gRPC-Web and Connect clients on one HTTP port, every call carried
 * over our transport to whoever serves it on the bus (docs/GATEWAY.md).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import type { NatsConnection } from "nats";
import { DEFAULT_PREFIX, silentLogger, type Logger } from "../index.js";
import { Access, type AccessOptions } from "./access.js";
import { Bridge, type BridgeStats, type LocalHandler } from "./bridge.js";
import { methodsIn, filesOf, askReflection, microInstances } from "./bus-info.js";
import type { GatewayCore } from "./core.js";
import { serveGrpc } from "./grpc.js";
import { COMPRESS_MIN_BYTES } from "./compression.js";
import { header } from "./headers.js";
import { MethodKinds } from "./kinds.js";
import { createListener, type ListenerTls } from "./listener.js";
import { http1Exchange, http2Exchange, type Exchange } from "./exchange.js";
import { serveGrpcWeb } from "./grpc-web.js";
import { isConnect, serveConnect } from "./connect.js";
import { Cors } from "./web-call.js";
import type { JsonCodecs } from "./json.js";
import { PassThroughClients } from "./passthrough.js";
import type { Route } from "./route.js";

/** Options of a gateway (the access options: allow list, bearer token). */
export interface GatewayOptions extends AccessOptions {
  /** Subject prefix on the bus, `nrpc` by default. */
  prefix?: string;
  /** Largest request or response message, in bytes (default 4 MiB, never above NATS's max_payload). */
  maxMessageBytes?: number;
  /**
   * Response messages of at least this many bytes are compressed (gzip, else deflate) when the
   * client accepts it (default 1024; a negative number or Infinity: never).
   */
  compressMinBytes?: number;
  /** TLS on the HTTP side (h2 and HTTP/1.1 by ALPN); with `ca`, mTLS. */
  tls?: ListenerTls;
  /** Origins browsers may call from (gRPC-Web, Connect); `*` for any. None by default. */
  corsOrigins?: readonly string[];
  /** Schemas for Connect's JSON format (own.ts gives them from the bus's reflection). */
  json?: JsonCodecs;
  /** Methods the gateway answers itself (health, reflection), by path. */
  local?: ReadonlyMap<string, LocalHandler>;
  logger?: Logger;
}

/** An error listener that keeps a stream's errors from crashing the process (its close ends the call). */
const ignore = (): void => undefined;

/** What `close()` waits for before it cuts connections. */
const CLOSE_MS = 2000;

/**
 * The gateway. `new Gateway(nc, options)` carries calls only; `createGateway` (index.ts) adds
 * its own health and reflection services and JSON schemas.
 */
export class Gateway implements GatewayCore {
  readonly bridge: Bridge;
  readonly kinds: MethodKinds;
  readonly maxMessageBytes: number;
  readonly consumedHeaders: ReadonlySet<string>;
  readonly prefix: string;
  readonly access: Access;
  readonly json: JsonCodecs | undefined;
  readonly compressMinBytes: number | undefined;
  /** At most 1000 streams at once per connection, and 64 MB of a connection's buffers: a client holds no more. */
  private readonly h2 = createHttp2Server({ maxSessionMemory: 64, settings: { maxConcurrentStreams: 1000 } });
  private readonly h1 = createHttpServer();
  private readonly sessions = new Set<Http2Session>();
  private readonly sockets = new Set<Socket>();
  private listener: NetServer | undefined;
  private readonly log: Logger;
  private readonly cors: Cors;

  constructor(
    readonly nc: NatsConnection,
    private readonly options: GatewayOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.maxMessageBytes = Math.min(
      options.maxMessageBytes ?? 4 * 1024 * 1024,
      nc.info?.max_payload ?? 4 * 1024 * 1024,
    );
    this.access = new Access(options);
    this.consumedHeaders = this.access.consumed;
    this.log = options.logger ?? silentLogger;
    this.cors = new Cors(options.corsOrigins);
    this.json = options.json;
    const min = options.compressMinBytes ?? COMPRESS_MIN_BYTES;
    this.compressMinBytes = Number.isFinite(min) && min >= 0 ? min : undefined;
    const prefix = this.prefix;
    this.kinds = new MethodKinds({
      micro: async () => (await microInstances(nc)).flatMap((i) => i.endpoints),
      reflect: async (service) =>
        methodsIn(filesOf(await askReflection(nc, prefix, { fileContainingSymbol: service })), service),
    });
    // Unary requests batched per turn of the event loop: each HTTP/2 stream is its own
    // callback, so unbatched every request would be its own socket write to NATS.
    const clients = new PassThroughClients(nc, { prefix, maxMessageBytes: this.maxMessageBytes, batchUnary: true });
    this.bridge = new Bridge(clients, this.kinds, options.local);
    this.h2.on("session", (s) => {
      this.sessions.add(s);
      s.on("error", () => undefined);
      s.once("close", () => this.sessions.delete(s));
    });
    this.h2.on("stream", (stream, headers) => this.onStream(stream, headers));
    this.h1.on("request", (req, res) => this.onHttp1(req, res));
  }

  admit(route: Route, headers: IncomingHttpHeaders): { code: number; message: string } | undefined {
    return this.access.admit(route, headers);
  }

  /** Calls carried so far, and in progress. */
  get stats(): Readonly<BridgeStats> {
    return this.bridge.stats;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on("error", ignore);
    const ct = header(headers, "content-type") ?? "";
    if (ct.startsWith("application/grpc") && !ct.startsWith("application/grpc-web"))
      return serveGrpc(this, stream, headers);
    this.onWeb(http2Exchange(stream, headers), ct);
  }

  private onHttp1(req: IncomingMessage, res: ServerResponse): void {
    res.on("error", () => undefined);
    req.on("error", () => undefined);
    this.onWeb(http1Exchange(req, res), req.headers["content-type"] ?? "");
  }

  /** gRPC-Web and Connect, over HTTP/2 or HTTP/1.1; CORS preflights; anything else is refused. */
  private onWeb(x: Exchange, ct: string): void {
    if (x.method === "OPTIONS") return this.cors.preflight(x);
    if (ct.startsWith("application/grpc-web")) return serveGrpcWeb(this, x, this.cors);
    if (isConnect(ct.split(";")[0]?.trim() ?? "") || (x.method === "GET" && x.path.includes("?")))
      return serveConnect(this, x, this.cors);
    x.respond(415, { "content-type": "text/plain; charset=utf-8" });
    x.end(
      Buffer.from(`unsupported content type ${JSON.stringify(ct)}: this is a gRPC, gRPC-Web and Connect gateway\n`),
    );
  }

  /** Learns method kinds from micro discovery once, then listens. Resolves with the address. */
  async listen(port: number, host = "127.0.0.1"): Promise<AddressInfo> {
    if (this.listener !== undefined) throw new Error("the gateway is already listening");
    await this.kinds.refresh();
    const l = createListener(this.h2, this.h1, this.options.tls, this.sockets);
    this.listener = l;
    await new Promise<void>((resolve, reject) => {
      l.once("error", reject);
      l.listen(port, host, () => {
        l.off("error", reject);
        resolve();
      });
    });
    const a = l.address() as AddressInfo;
    this.log.info({ host: a.address, port: a.port, tls: this.options.tls !== undefined }, "gateway listening");
    return a;
  }

  /** Stops listening, lets calls in progress end (GOAWAY), then cuts what is left after 2 s. */
  async close(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    const closed = l === undefined ? Promise.resolve() : new Promise<void>((r) => l.close(() => r()));
    for (const s of this.sessions) s.close();
    this.h1.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
      for (const s of this.sockets) s.destroy();
    }, CLOSE_MS);
    await closed;
    clearTimeout(timer);
  }
}
