/** The method a request path names, checked so it cannot break a NATS subject. */
import { tokenProblem } from "../index.js";

/** `/pkg.Service/Method`, split. */
export interface Route {
  path: string;
  service: string;
  method: string;
}

/** The route of a path, or a reason it is none (the caller answers UNIMPLEMENTED). */
export function parseRoute(path: string | undefined): Route | string {
  if (path === undefined) return "the request has no path";
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  const slash = p.indexOf("/", 1);
  if (p.charCodeAt(0) !== 0x2f || slash < 0) return `${JSON.stringify(p)} is not a method path (/pkg.Service/Method)`;
  const service = p.slice(1, slash);
  const method = p.slice(slash + 1);
  const problem =
    tokenProblem("method", method) ??
    service
      .split(".")
      .map((t) => tokenProblem("service name part", t))
      .find((x) => x !== undefined);
  if (problem !== undefined) return `${JSON.stringify(p)} is not a method path: ${problem}`;
  return { path: p, service, method };
}
