/**
 * ion's node discovery protocol (nats-discovery) served by islb, into the same registry and
 * balancer as the native API: Go nodes' save / update / delete become registrations with
 * leases, get is answered by the balancer, and every node's up and down, native or Go, is
 * broadcast on node.discovery.<service>.<dc>.<nid> for Go watchers. Bad input is answered with
 * a failed Response (or dropped) and logged; it never stops the listener.
 */
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Balancer } from "../balancer/balancer.js";
import { decodeGob } from "../gob/decoder.js";
import { GobEncoder } from "../gob/encoder.js";
import { GobError, struct } from "../gob/types.js";
import { silentLogger, type Logger } from "../log.js";
import { toRecord } from "../registry/records.js";
import { NodeState, type RegistryEvent, type RegistryStore } from "../registry/types.js";
import { tokenProblem } from "../subjects.js";
import { asRequest, extraFromGo, goValue, ionNode, param, type GoRequest } from "./nodes.js";
import { GET_RESPONSE, REQUEST, RESPONSE } from "./types.js";

export interface DiscoveryOptions {
  /** Lease of a node kept alive by save/update (default 5000 ms, as ion's registry). */
  leaseMs?: number;
  /** Session placements are kept this long after their last lookup (default 10 minutes). */
  sessionIdleMs?: number;
  logger?: Logger;
}

/** The owner token of nodes registered through nats-discovery (which has no notion of owner). */
export const DISCOVERY_TOKEN = "nats-discovery";
const PUBLISH = "node.publish";
const DISCOVERY = "node.discovery";
/** One answer per request across islb instances. */
export const DISCOVERY_QUEUE = "islb.discovery";
const MAX_PAYLOAD = 64 * 1024;

export function serveDiscovery(nc: NatsConnection, store: RegistryStore, balancer: Balancer, options: DiscoveryOptions = {}): { stop(): void } {
  const log = options.logger ?? silentLogger;
  const leaseMs = options.leaseMs ?? 5000;
  const idleMs = options.sessionIdleMs ?? 600_000;
  const encoder = new GobEncoder();
  const view = store.view;

  const respond = (msg: Msg, ok: boolean, reason = ""): void => {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      msg.respond(encoder.encode(RESPONSE, struct([["Success", ok], ["Reason", reason]])));
    } catch (e) {
      log.warn({ err: e }, "discovery: could not answer");
    }
  };

  const save = async (msg: Msg, req: GoRequest): Promise<void> => {
    const n = req.node;
    const problem = tokenProblem("NID", n.nid) ?? tokenProblem("Service", n.service) ?? (n.dc === "" ? undefined : tokenProblem("DC", n.dc));
    if (problem !== undefined) return respond(msg, false, problem);
    const { kept, dropped } = extraFromGo(n.extraInfo);
    if (dropped.length > 0) log.debug({ nid: n.nid, keys: dropped }, "discovery: ExtraInfo values of other than basic types are not kept");
    const now = Date.now();
    const cur = view.get(n.nid);
    const record = toRecord(
      { node: ionNode(n), state: NodeState.NODE_STATE_SERVING, region: "", load: cur?.load, softLimits: undefined, hardLimits: undefined, extraInfo: kept },
      leaseMs,
      now,
      cur?.registeredAt,
    );
    const r = await store.register(record, DISCOVERY_TOKEN);
    if (r.refused === "token") return respond(msg, false, `node id ${n.nid} is registered by another owner`);
    respond(msg, true);
  };

  const remove = async (msg: Msg, req: GoRequest): Promise<void> => {
    const r = await store.deregister(req.node.nid, DISCOVERY_TOKEN);
    if (r.refused === "token") return respond(msg, false, `node id ${req.node.nid} is registered by another owner`);
    respond(msg, true);
  };

  const get = async (msg: Msg, req: GoRequest): Promise<void> => {
    const service = req.service;
    const any = service === "" || service === "*";
    const nid = param(req, "nid");
    const sid = param(req, "sid");
    const now = Date.now();
    let records;
    if (nid !== "" && nid !== "*") {
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
    if (msg.data.length > MAX_PAYLOAD) return respond(msg, false, `payload of ${msg.data.length} bytes is over ${MAX_PAYLOAD}`);
    let req: GoRequest;
    try {
      req = asRequest(decodeGob(msg.data).value);
    } catch (e) {
      log.warn({ subject: msg.subject, err: e instanceof GobError ? e.message : e }, "discovery: a payload that is not a discovery.Request");
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
      nc.publish(subject, encoder.encode(REQUEST, struct([["Action", action], ["Node", goValue(e.record)], ["Service", ""], ["Params", new Map()]])));
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
