/**
 * One HTTP request and its response, the same over HTTP/2 and HTTP/1.1, for the protocols
 * that need no HTTP trailers (gRPC-Web, Connect), which browsers speak over either.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";

/** A request and its response, whichever HTTP version carries them. */
export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  /** True once the response was started. */
  readonly responded: boolean;
  /** True when the client is gone (nothing written reaches it). */
  readonly gone: boolean;
  respond(status: number, headers: OutgoingHttpHeaders): void;
  /** Writes; a promise when the client must read first. */
  write(chunk: Uint8Array): Promise<void> | undefined;
  end(chunk?: Uint8Array): void;
  /** Called once when the exchange closes, whether it finished or the client went away. */
  onClose(f: () => void): void;
}

function waitDrain(w: {
  once(e: string, f: () => void): unknown;
  off(e: string, f: () => void): unknown;
}): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off("drain", done);
      w.off("close", done);
      resolve();
    };
    w.once("drain", done);
    w.once("close", done);
  });
}

/** An HTTP/2 stream as an exchange. */
export function http2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Exchange {
  let responded = false;
  return {
    method: String(headers[":method"] ?? ""),
    path: String(headers[":path"] ?? ""),
    headers,
    body: stream,
    get responded() {
      return responded;
    },
    get gone() {
      return stream.destroyed || stream.closed;
    },
    respond(status, h) {
      if (responded || stream.destroyed) return;
      responded = true;
      try {
        stream.respond({ ...h, ":status": status });
      } catch {
        /* gone */
      }
    },
    write(chunk) {
      if (stream.destroyed || stream.closed) return undefined;
      return stream.write(chunk) ? undefined : waitDrain(stream);
    },
    end(chunk) {
      if (stream.destroyed || stream.closed) return;
      try {
        if (chunk === undefined) stream.end();
        else stream.end(chunk);
      } catch {
        /* gone */
      }
    },
    onClose(f) {
      stream.once("close", f);
    },
  };
}

/** An HTTP/1.1 request and response as an exchange. */
export function http1Exchange(req: IncomingMessage, res: ServerResponse): Exchange {
  return {
    method: req.method ?? "",
    path: req.url ?? "",
    headers: req.headers,
    body: req,
    get responded() {
      return res.headersSent;
    },
    get gone() {
      return res.destroyed || res.writableEnded;
    },
    respond(status, h) {
      if (res.headersSent || res.destroyed) return;
      try {
        res.writeHead(status, h);
      } catch {
        res.destroy(); // a header Node refuses: the response cannot be sent
      }
    },
    write(chunk) {
      if (res.destroyed || res.writableEnded) return undefined;
      return res.write(chunk) ? undefined : waitDrain(res);
    },
    end(chunk) {
      if (res.destroyed || res.writableEnded) return;
      try {
        if (chunk === undefined) res.end();
        else res.end(chunk);
      } catch {
        res.destroy();
      }
    },
    onClose(f) {
      res.once("close", f);
    },
  };
}
