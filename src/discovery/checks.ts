/**
 * The native API's checks (src/islb/validate.ts) on the nats-discovery path, as the text of a
 * failed answer: a Go node or lookup gets the same limits as a native one (ids that fit one
 * subject token, a sid of at most 256 printable characters, bounded addresses, params and
 * ExtraInfo), so nothing stored through gob is something the native API would refuse to read.
 */
import type { Registration } from "../../generated/islb/islb.js";
import { checkOptionalToken, checkRegistration, checkSid } from "../islb/validate.js";
import { ServerError } from "../status.js";

/** The message of the INVALID_ARGUMENT a check throws, or undefined when it passes. */
function problemOf(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    if (e instanceof ServerError) return e.details;
    throw e;
  }
}

/** Why a Go node's save or update cannot be stored, as the native Register would say it. */
export function registrationProblem(reg: Registration): string | undefined {
  return problemOf(() => checkRegistration(reg));
}

/** Why a get cannot be answered, as FindNode would say it ("" and "*" mean any service, any node). */
export function getProblem(service: string, nid: string, sid: string): string | undefined {
  return problemOf(() => {
    checkOptionalToken("Service", service, true);
    checkOptionalToken("nid", nid, true);
    checkSid(sid);
  });
}
