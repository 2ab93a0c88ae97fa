/**
 * ion's node discovery protocol (nats-discovery) served by islb, into the same registry and
 * balancer as the native API: Go nodes' save / update / delete become registrations with
 * leases, get is answered by the balancer, and every node's up and down, native or Go, is
 * broadcast on node.discovery.<service>.<dc>.<nid> for Go watchers. Input passes the native
 * API's checks (./checks.ts). Bad input is answered with a failed Response (an empty
 * GetResponse for a get, as ion's registry answers a get it cannot serve) and logged; it never
 * stops the listener.
 */
import { createHash } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Balancer } from "../balancer/balancer.js";
import { decodeGob } from "../gob/decoder.js";
import { GobEncoder } from "../gob/encoder.js";
import { GobError, struct } from "../gob/types.js";
import { silentLogger, type Logger } from "../log.js";
import { toRecord } from "../registry/records.js";
import { NodeState, type NodeRecord, type RegistryEvent, type RegistryStore } from "../registry/types.js";
import { tokenProblem } from "../subjects.js";
import { asRequest, extraFromGo, goValue, ionNode, param, type GoNode, type GoRequest } from "./nodes.js";
import type { GoAny } from "../gob/types.js";
import { GET_RESPONSE, REQUEST, RESPONSE } from "./types.js";
import type { Authorization } from "../islb/auth.js";
import { StoreUnavailableError } from "../registry/errors.js";
import { getProblem, registrationProblem } from "./checks.js";

export interface DiscoveryOptions {
  /** Lease of a node kept alive by save/update (default 5000 ms, as ion's registry). */
  leaseMs?: number;
  /** Session placements are kept this long after their last lookup (default 10 minutes). */
  sessionIdleMs?: number;
  logger?: Logger;
}

/**
 * ExtraInfo keys a Go node may send to prove things; both are taken out before the node is
 * stored, answered or broadcast. `secret`: its service's registration secret. `owner_token`:
 * a per-node owner token (stable across the node's restarts; without it, the node's NATS
 * connection owns its entry).
 */
export const SECRET_KEY = "secret";
export const OWNER_KEY = "owner_token";
const PUBLISH = "node.publish";
const DISCOVERY = "node.discovery";
/** One answer per request across islb instances. */
export const DISCOVERY_QUEUE = "islb.discovery";
const MAX_PAYLOAD = 64 * 1024;

/**
 * Who owns a Go node's entry, as the owner token it is kept under. nats-discovery has no
 * notion of owner, so: the node's `owner_token` when it sends one; else the reply-inbox prefix
 * of its connection (nats.go's request mux, `_INBOX.<nuid>.`: one per connection, kept across
 * reconnects, seen only by islb and the NATS server). Undefined when neither exists (no reply,
 * or an old-style single-use inbox): such a request cannot be bound to an owner.
 */
export function discoveryOwner(reply: string | undefined, ownerToken: string): string | undefined {
  let identity: string;
  if (ownerToken !== "") identity = `token:${ownerToken}`;
  else {
    if (reply === undefined) return undefined;
    const cut = reply.lastIndexOf(".");
    const prefix = cut < 0 ? "" : reply.slice(0, cut);
    if (prefix.split(".").length < 2) return undefined;
    identity = `inbox:${prefix}`;
  }
  return `nats-discovery:${createHash("sha256").update(identity).digest("base64url")}`;
}

/**
 * Why a save, update or delete did not come on the subject nats-discovery sends it on,
 * node.publish.<Service>.<DC>.<NID> of the node it names (Go's client always does): bound so,
 * NATS permissions that let a node publish only on its own subject keep it to its own entry.
 */
function subjectProblem(subject: string, action: string, n: GoNode): string | undefined {
  const own = `${PUBLISH}.${n.service}.${n.dc}.${n.nid}`;
  if (subject === own) return undefined;
  return `a ${action} of node ${n.nid} comes on ${own}, not ${subject.slice(0, 256)}`;
}

const stringOf = (v: GoAny | null | undefined): string =>
  v !== null && v !== undefined && typeof v.value === "string" ? v.value : "";

/**
 * Serves nats-discovery. Every save and update passes `auth` (the registry's one registration
 * check); a Go node owns its entry as `discoveryOwner` says, and cannot touch a native node's.
 */
export function serveDiscovery(
  nc: NatsConnection,
  store: RegistryStore,
  balancer: Balancer,
  auth: Authorization,
  options: DiscoveryOptions = {},
): { stop(): void } {
  const log = options.logger ?? silentLogger;
  const leaseMs = options.leaseMs ?? 5000;
  const idleMs = options.sessionIdleMs ?? 600_000;
  const encoder = new GobEncoder();
  const view = store.view;

  const respond = (msg: Msg, ok: boolean, reason = ""): void => {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      msg.respond(
        encoder.encode(
          RESPONSE,
          struct([
            ["Success", ok],
            ["Reason", reason],
          ]),
        ),
      );
    } catch (e) {
      log.warn({ err: e }, "discovery: could not answer");
    }
  };

  const save = async (msg: Msg, req: GoRequest): Promise<void> => {
    const n = req.node;
    const problem =
      tokenProblem("NID", n.nid) ??
      tokenProblem("Service", n.service) ??
      (n.dc === "" ? undefined : tokenProblem("DC", n.dc)) ??
      subjectProblem(msg.subject, req.action, n);
    if (problem !== undefined) return respond(msg, false, problem);
    const secret = stringOf(n.extraInfo.get(SECRET_KEY)) || param(req, SECRET_KEY);
    const denied = auth.registrationProblem(n.service, secret);
    if (denied !== undefined) {
      log.warn({ nid: n.nid, service: n.service }, "discovery: registration refused (secret)");
      return respond(msg, false, `${denied} (ExtraInfo "${SECRET_KEY}")`);
    }
    const owner = discoveryOwner(msg.reply, stringOf(n.extraInfo.get(OWNER_KEY)));
    if (owner === undefined)
      return respond(
        msg,
        false,
        `a save needs a reply inbox or ExtraInfo "${OWNER_KEY}" to bind the node to its owner`,
      );
    const extraInfo = new Map(n.extraInfo);
    extraInfo.delete(SECRET_KEY);
    extraInfo.delete(OWNER_KEY);
    const { kept, dropped } = extraFromGo(extraInfo);
    if (dropped.length > 0)
      log.debug(
        { nid: n.nid, keys: dropped.slice(0, 8).map((k) => k.slice(0, 32)) },
        "discovery: ExtraInfo values of other than basic types are not kept",
      );
    const cur = view.get(n.nid);
    const reg = {
      node: ionNode(n),
      state: NodeState.NODE_STATE_SERVING,
      region: "",
      load: cur?.load,
      softLimits: undefined,
      hardLimits: undefined,
      extraInfo: kept,
    };
    const invalid = registrationProblem(reg);
    if (invalid !== undefined) {
      log.warn({ nid: n.nid, service: n.service, problem: invalid }, "discovery: registration refused (invalid)");
      return respond(msg, false, invalid);
    }
    const record = toRecord(reg, leaseMs, Date.now(), cur?.registeredAt);
    const r = await store.register(record, owner);
    if (r.refused === "token")
      return respond(msg, false, `node id ${n.nid} is registered by another owner (free again when its lease lapses)`);
    respond(msg, true);
  };

  const remove = async (msg: Msg, req: GoRequest): Promise<void> => {
    const invalid = tokenProblem("NID", req.node.nid) ?? subjectProblem(msg.subject, "delete", req.node);
    if (invalid !== undefined) return respond(msg, false, invalid);
    const owner = discoveryOwner(msg.reply, stringOf(req.node.extraInfo.get(OWNER_KEY)));
    if (owner === undefined)
      return respond(msg, false, `a delete needs a reply inbox or ExtraInfo "${OWNER_KEY}" to prove its owner`);
    const r = await store.deregister(req.node.nid, owner);
    if (r.refused === "token") return respond(msg, false, `node id ${req.node.nid} is registered by another owner`);
    respond(msg, true);
  };

  const get = async (msg: Msg, req: GoRequest): Promise<void> => {
    const service = req.service;
    const any = service === "" || service === "*";
    const nid = param(req, "nid");
    const sid = param(req, "sid");
    const now = Date.now();
    const invalid = getProblem(service, nid, sid);
    let records: NodeRecord[];
    if (invalid !== undefined) {
      // ion's registry answers a get it cannot serve with no nodes: a Go client reads only a GetResponse.
      log.warn({ problem: invalid }, "discovery: get refused (invalid)");
      records = [];
    } else if (nid !== "" && nid !== "*") {
      const r = view.get(nid);
      records = r !== undefined && r.expiresAt > now && (any || r.node.service === service) ? [r] : [];
    } else if (sid !== "" && !any) {
      const p = await store.placeSession(service, sid, () => balancer.pick(service), idleMs);
      if (p?.placed === true) balancer.notePlaced(p.nid);
      const r = p === undefined ? undefined : view.get(p.nid);
      records = r === undefined ? [] : [r];
    } else {
      records = balancer.ranked([...view.nodesOf(service)].filter((r) => r.expiresAt > now));
    }
    if (msg.reply === undefined || msg.reply === "") return;
    msg.respond(encoder.encode(GET_RESPONSE, struct([["Nodes", records.map(goValue)]])));
  };

  const handle = async (msg: Msg): Promise<void> => {
    if (msg.data.length > MAX_PAYLOAD)
      return respond(msg, false, `payload of ${msg.data.length} bytes is over ${MAX_PAYLOAD}`);
    let req: GoRequest;
    try {
      req = asRequest(decodeGob(msg.data).value);
    } catch (e) {
      log.warn(
        { subject: msg.subject, err: e instanceof GobError ? e.message : e },
        "discovery: a payload that is not a discovery.Request",
      );
      return respond(msg, false, `bad request: ${(e as Error).message}`);
    }
    switch (req.action) {
      case "save":
      case "update":
        return save(msg, req);
      case "delete":
        return remove(msg, req);
      case "get":
        return get(msg, req);
      default:
        return respond(msg, false, `unknown action ${JSON.stringify(req.action.slice(0, 32))}`);
    }
  };

  const sub: Subscription = nc.subscribe(`${PUBLISH}.>`, {
    queue: DISCOVERY_QUEUE,
    callback: (err, msg) => {
      if (err !== null) return;
      handle(msg).catch((e: unknown) => {
        if (e instanceof StoreUnavailableError) return respond(msg, false, e.message);
        log.error({ err: e, subject: msg.subject }, "discovery: request failed");
        respond(msg, false, "internal error");
      });
    },
  });

  // Up and down of every node, native or Go, once across the instances sharing the store.
  const stopFeed = store.onLocalChange((e: RegistryEvent) => {
    const action = e.type === "up" ? "save" : e.type === "down" || e.type === "expired" ? "delete" : undefined;
    if (action === undefined) return;
    const n = e.record.node;
    const subject = `${DISCOVERY}.${n.service}.${n.dc || "-"}.${n.nid}`;
    try {
      nc.publish(
        subject,
        encoder.encode(
          REQUEST,
          struct([
            ["Action", action],
            ["Node", goValue(e.record)],
            ["Service", ""],
            ["Params", new Map()],
          ]),
        ),
      );
    } catch (err) {
      log.warn({ err, subject }, "discovery: could not broadcast");
    }
  });

  return {
    stop() {
      stopFeed();
      sub.unsubscribe();
    },
  };
}
