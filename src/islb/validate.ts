/**
 * Checks of what clients send to the ISLB service. Everything that becomes part of a subject
 * or a store key is checked here; a failed check is INVALID_ARGUMENT and changes nothing.
 */
import type { Node } from "../../generated/ion/ion.js";
import type { Limits, Load, Registration } from "../../generated/islb/islb.js";
import { Status, fail } from "../status.js";
import { tokenProblem } from "../subjects.js";

export const LIMITS = {
  idLength: 128,
  sidLength: 256,
  addrLength: 1024,
  params: 64,
  paramKey: 128,
  paramValue: 1024,
} as const;

/** C0 and C1 control characters and DEL: never printable, in any text islb keeps. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** A node id or service name: one subject token. */
export function checkToken(what: string, value: string): void {
  const p = tokenProblem(what, value, LIMITS.idLength);
  if (p !== undefined) fail(Status.INVALID_ARGUMENT, p);
}

/** An optional token: empty is allowed ("" or "*" for "any" where the caller says so). */
export function checkOptionalToken(what: string, value: string, wildcard = false): void {
  if (value === "" || (wildcard && value === "*")) return;
  checkToken(what, value);
}

/** A session id: any printable text up to 256 characters. */
export function checkSid(sid: string): void {
  if (sid.length > LIMITS.sidLength) fail(Status.INVALID_ARGUMENT, `sid is longer than ${LIMITS.sidLength} characters`);
  if (CONTROL.test(sid)) fail(Status.INVALID_ARGUMENT, "sid must not contain control characters");
}

export function checkText(what: string, value: string, max: number): void {
  if (value.length > max) fail(Status.INVALID_ARGUMENT, `${what} is longer than ${max} characters`);
  if (CONTROL.test(value)) fail(Status.INVALID_ARGUMENT, `${what} must not contain control characters`);
}

function checkFigures(what: string, x: Load | Limits | undefined): void {
  if (x === undefined) return;
  // for-in over the decoded message's own fields: no array of entries per check (every heartbeat).
  for (const k in x) {
    if (!Object.hasOwn(x, k)) continue;
    const n = Number((x as unknown as Record<string, unknown>)[k]);
    if (!(n >= 0 && n < Infinity)) fail(Status.INVALID_ARGUMENT, `${what}.${k} must be a finite number ≥ 0`);
  }
}

export function checkLoad(load: Load | undefined): void {
  checkFigures("load", load);
}

/** A node as registered: ids that fit subjects, bounded text and maps. */
export function checkNode(node: Node | undefined): Node {
  if (node === undefined) fail(Status.INVALID_ARGUMENT, "registration.node is required");
  checkToken("node.nid", node.nid);
  checkToken("node.service", node.service);
  checkOptionalToken("node.dc", node.dc);
  if (node.rpc !== undefined) {
    checkText("node.rpc.protocol", node.rpc.protocol, LIMITS.idLength);
    checkText("node.rpc.addr", node.rpc.addr, LIMITS.addrLength);
    if (node.rpc.params.size > LIMITS.params)
      fail(Status.INVALID_ARGUMENT, `node.rpc.params has ${node.rpc.params.size} entries, more than ${LIMITS.params}`);
    for (const [k, v] of node.rpc.params) {
      checkText("a node.rpc.params key", k, LIMITS.paramKey);
      checkText(`node.rpc.params[${JSON.stringify(k.slice(0, 32))}]`, v, LIMITS.paramValue);
    }
  }
  return node;
}

export function checkRegistration(reg: Registration | undefined): Registration & { node: Node } {
  if (reg === undefined) fail(Status.INVALID_ARGUMENT, "registration is required");
  const node = checkNode(reg.node);
  if (reg.extraInfo.size > LIMITS.params)
    fail(
      Status.INVALID_ARGUMENT,
      `registration.extra_info has ${reg.extraInfo.size} entries, more than ${LIMITS.params}`,
    );
  for (const [k, v] of reg.extraInfo) {
    checkText("an extra_info key", k, LIMITS.paramKey);
    checkText(`extra_info[${JSON.stringify(k.slice(0, 32))}]`, v.stringValue ?? "", LIMITS.paramValue);
    checkText(`extra_info[${JSON.stringify(k.slice(0, 32))}].go_type`, v.goType, 32);
  }
  checkOptionalToken("registration.region", reg.region);
  checkFigures("registration.load", reg.load);
  checkFigures("registration.soft_limits", reg.softLimits);
  checkFigures("registration.hard_limits", reg.hardLimits);
  return { ...reg, node };
}
