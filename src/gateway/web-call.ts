/**
 * What gRPC-Web and Connect requests share: the call made from an exchange (route, access,
 * metadata, deadline, cancellation), CORS for browsers, and a body read whole (Connect unary).
 */
import type { OutgoingHttpHeaders } from "node:http";
import { Status } from "../index.js";
import type { GatewayCall, Requests } from "./bridge.js";
import type { GatewayCore } from "./core.js";
import type { Exchange } from "./exchange.js";
import { inflate, type Encoding } from "./compression.js";
import { FramingError } from "./framing.js";
import { header, nidOf, requestMetadata } from "./headers.js";
import { parseRoute } from "./route.js";

/** The call of an exchange, or the status refusing it. */
export function webCall(
  core: GatewayCore,
  x: Exchange,
  timeoutMs: number | undefined,
  ended: () => boolean,
): GatewayCall | { code: Status; message: string } {
  const route = parseRoute(x.path);
  if (typeof route === "string") return { code: Status.UNIMPLEMENTED, message: route };
  const refused = core.admit(route, x.headers);
  if (refused !== undefined) return refused;
  const ac = new AbortController();
  x.onClose(() => {
    if (!ended()) ac.abort(); // only calls still going: an abort costs an AbortError and its stack
  });
  return {
    ...route,
    nid: nidOf(x.headers),
    metadata: requestMetadata(x.headers, core.consumedHeaders),
    timeoutMs,
    signal: ac.signal,
  };
}

/** Origins allowed to call from a browser (`*`: any), and the CORS headers for one request. */
export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[] = []) {
    this.any = origins.includes("*");
    this.origins = new Set(origins);
  }

  /** True when a page of `origin` may call. */
  allows(origin: string): boolean {
    return this.any || this.origins.has(origin);
  }

  /**
   * Why a GET (Connect's GET form) must not run, or undefined. A page of any site can make a
   * browser send a GET without asking first (an image, a link, a simple fetch), and a GET can
   * reach any unary method, so one from another site runs only when CORS allows its origin:
   * a GET with an `origin` not allowed, or one a browser marks cross-site (`sec-fetch-site`)
   * without an allowed `origin`, is refused. Clients that are not browsers send neither.
   */
  getProblem(origin: string | undefined, fetchSite: string | undefined): string | undefined {
    if (origin !== undefined)
      return this.allows(origin) ? undefined : `a GET from ${origin}, which CORS does not allow`;
    if (fetchSite === "cross-site" || fetchSite === "same-site") return `a ${fetchSite} GET with no allowed origin`;
    return undefined;
  }

  /** Headers for a response to a request from `origin` (none when that origin is not allowed). */
  headers(origin: string | undefined): OutgoingHttpHeaders {
    if (origin === undefined || !this.allows(origin)) return {};
    return {
      "access-control-allow-origin": this.any ? "*" : origin,
      vary: "origin",
      "access-control-expose-headers": "*, grpc-status, grpc-message, grpc-status-details-bin",
    };
  }

  /** Answers a preflight (OPTIONS) request. */
  preflight(x: Exchange): void {
    const h = this.headers(header(x.headers, "origin"));
    if (h["access-control-allow-origin"] === undefined) {
      x.respond(403, { "content-type": "text/plain; charset=utf-8" });
      return x.end(Buffer.from("origin not allowed\n"));
    }
    x.respond(204, {
      ...h,
      "access-control-allow-methods": "POST, GET",
      "access-control-allow-headers": header(x.headers, "access-control-request-headers") ?? "*",
      "access-control-max-age": "7200",
    });
    x.end();
  }
}

/** A request body that is one message, read whole (Connect unary), up to `max` bytes (inflated, when it is compressed). */
export function wholeBody(x: Exchange, max: number, encoding?: Encoding): Requests {
  const read = (): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let n = 0;
      x.body.on("data", (c: Buffer) => {
        n += c.length;
        if (n > max) {
          x.body.pause();
          return reject(
            new FramingError(Status.RESOURCE_EXHAUSTED, `request message of more than ${max} bytes is over the limit`),
          );
        }
        parts.push(c);
      });
      x.body.once("end", () => {
        const whole = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
        try {
          resolve(encoding === undefined ? whole : inflate(encoding, whole, max));
        } catch (e) {
          reject(e);
        }
      });
      x.body.once("error", () => reject(new FramingError(Status.CANCELLED, "the request body failed")));
    });
  let p: Promise<Uint8Array> | undefined;
  return {
    single: () => (p ??= read()),
    async *[Symbol.asyncIterator]() {
      yield await (p ??= read());
    },
  };
}
