/**
 * Who may call what through the gateway: an allow list of services and methods, and an
 * optional bearer token. (Client certificates are checked by TLS itself, see server.ts.)
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Status } from "../index.js";
import { header } from "./headers.js";
import type { Route } from "./route.js";

/** Services the gateway answers itself, always exposed (reflection lists only what is allowed). */
export const OWN_SERVICES = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** What the gateway exposes, and to whom. */
export interface AccessOptions {
  /**
   * What is exposed: `pkg.Service` (every method), `pkg.Service/Method`, `pkg.*` (every
   * service of a package and its sub-packages) or `*` (everything). Undefined: everything.
   */
  allow?: readonly string[];
  /** When set, every call must carry `authorization: Bearer <token>`. */
  authToken?: string;
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** The allow list and the bearer token, checked for every call before it reaches the bus. */
export class Access {
  private readonly services = new Set<string>();
  private readonly methods = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly all: boolean;
  private readonly token: Buffer | undefined;

  constructor(o: AccessOptions) {
    this.all = o.allow === undefined || o.allow.includes("*");
    for (const a of o.allow ?? []) {
      if (a === "*") continue;
      if (a.endsWith(".*")) this.prefixes.push(a.slice(0, -1));
      else if (a.includes("/")) this.methods.add(a.startsWith("/") ? a : `/${a}`);
      else this.services.add(a);
    }
    this.token = o.authToken === undefined ? undefined : digest(o.authToken);
  }

  /** Headers consumed here (never passed to services). */
  get consumed(): ReadonlySet<string> {
    return new Set(this.token === undefined ? [] : ["authorization"]);
  }

  /** True when some method of `service` is exposed. */
  exposesService(service: string): boolean {
    if (
      this.all ||
      OWN_SERVICES.has(service) ||
      this.services.has(service) ||
      this.prefixes.some((p) => service.startsWith(p))
    )
      return true;
    for (const m of this.methods) if (m.startsWith(`/${service}/`)) return true;
    return false;
  }

  /** True when the method of this path is exposed. */
  exposes(route: Route): boolean {
    return (
      this.all ||
      OWN_SERVICES.has(route.service) ||
      this.services.has(route.service) ||
      this.methods.has(route.path) ||
      this.prefixes.some((p) => route.service.startsWith(p))
    );
  }

  /** Undefined when the call may go on; else why not. */
  admit(route: Route, headers: IncomingHttpHeaders): { code: Status; message: string } | undefined {
    if (this.token !== undefined) {
      const auth = header(headers, "authorization") ?? "";
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (m === null || !timingSafeEqual(digest(m[1] as string), this.token))
        return {
          code: Status.UNAUTHENTICATED,
          message: "the gateway needs a valid bearer token (authorization: Bearer <token>)",
        };
    }
    if (!this.exposes(route))
      return { code: Status.PERMISSION_DENIED, message: `${route.path} is not exposed by this gateway` };
    return undefined;
  }
}
