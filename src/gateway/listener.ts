/**
 * One port for every protocol: connections are handed to an HTTP/2 server (gRPC, and
 * gRPC-Web or Connect from HTTP/2 clients) or to an HTTP/1.1 server (gRPC-Web and Connect
 * from browsers), by the HTTP/2 preface on cleartext and by ALPN on TLS.
 */
import type { Server as HttpServer } from "node:http";
import type { Http2Server } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";

/** TLS of the listener: a certificate, and with `ca`, client certificates required (mTLS). */
export interface ListenerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA of the client certificates: set, every client must present one it signed. */
  ca?: string | Buffer;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/** A listener that dispatches its connections to `h2` and `h1`, and keeps them to close them. */
export function createListener(
  h2: Http2Server,
  h1: HttpServer,
  tls: ListenerTls | undefined,
  sockets: Set<Socket>,
): NetServer {
  const keep = (s: Socket): void => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  if (tls !== undefined) {
    const server = createTlsServer({
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      requestCert: tls.ca !== undefined,
      rejectUnauthorized: tls.ca !== undefined,
      ALPNProtocols: ["h2", "http/1.1"],
    });
    server.on("secureConnection", (s: TLSSocket) => {
      keep(s);
      if (s.alpnProtocol === "h2") h2.emit("connection", s);
      else h1.emit("connection", s);
    });
    server.on("tlsClientError", () => undefined);
    return server;
  }
  return createNetServer((s) => {
    keep(s);
    s.on("error", () => undefined);
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2like = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2like && n < PREFACE.length) return; // wait for enough bytes to tell
      s.off("data", onData);
      s.pause();
      if (h2like) {
        s.unshift(seen); // the HTTP/2 session reads what is buffered first
        h2.emit("connection", s);
      } else {
        h1.emit("connection", s); // the HTTP/1 parser takes the bytes it missed as a data event
        s.emit("data", seen);
        s.resume();
      }
    };
    s.on("data", onData);
  });
}
