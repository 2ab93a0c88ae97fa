/**
 * NATS micro discovery for a server: answers $SRV.PING, $SRV.INFO and $SRV.STATS (each also
 * as .<name> and .<name>.<id>), so `nats micro ls / info / stats` show it, with one endpoint
 * per method and live request and error counts.
 */
import { nuid, type NatsConnection, type Subscription } from "nats";
import type { NatsServer } from "../transport/server.js";
import { methodSubject, serviceQueue } from "../subjects.js";

export interface MicroOptions {
  /** Service name: letters, digits, - and _ (e.g. "islb"). */
  name: string;
  /** Instance id (default: the server's node id once it listens, else a random id). */
  id?: string;
  /** Semantic version. */
  version: string;
  description?: string;
  metadata?: Record<string, string>;
}

const VERBS = ["PING", "INFO", "STATS"] as const;
type Verb = (typeof VERBS)[number];

function endpointNames(methods: ReturnType<NatsServer["methods"]>): Map<string, string> {
  const count = new Map<string, number>();
  for (const m of methods) count.set(m.name, (count.get(m.name) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const m of methods)
    out.set(m.path, (count.get(m.name) ?? 0) > 1 ? `${m.service.split(".").pop()}_${m.name}` : m.name);
  return out;
}

/**
 * Subscribes the discovery subjects; returns how to stop. It may be called before the server
 * listens: the id, prefix and endpoints are read when a request comes.
 */
export function serveMicro(nc: NatsConnection, server: NatsServer, o: MicroOptions): () => void {
  if (!/^[A-Za-z0-9_-]+$/.test(o.name))
    throw new Error(`micro service name ${JSON.stringify(o.name)} must be letters, digits, - and _`);
  const fallbackId = nuid.next();
  const id = (): string => o.id ?? (server.resolvedOptions?.nid || fallbackId);
  const base = () => ({ name: o.name, id: id(), version: o.version, metadata: o.metadata ?? {} });
  const endpoints = () => {
    const prefix = server.resolvedOptions?.prefix ?? "nrpc";
    const methods = server.methods();
    const names = endpointNames(methods);
    return methods.map((m) => ({
      m,
      name: names.get(m.path) as string,
      subject: methodSubject(prefix, m.service, m.name),
      queue_group: serviceQueue(m.service),
    }));
  };
  const answer = (verb: Verb): unknown => {
    switch (verb) {
      case "PING":
        return { type: "io.nats.micro.v1.ping_response", ...base() };
      case "INFO":
        return {
          type: "io.nats.micro.v1.info_response",
          ...base(),
          description: o.description ?? "",
          endpoints: endpoints().map((e) => ({
            name: e.name,
            subject: e.subject,
            queue_group: e.queue_group,
            metadata: { path: e.m.path, kind: kind(e.m) },
          })),
        };
      case "STATS": {
        const stats = server.callStats();
        return {
          type: "io.nats.micro.v1.stats_response",
          ...base(),
          started: server.startedAt.toISOString(),
          endpoints: endpoints().map((e) => {
            const s = stats.get(e.m.path);
            const n = s?.requests ?? 0;
            const ns = Math.round((s?.totalMs ?? 0) * 1e6);
            return {
              name: e.name,
              subject: e.subject,
              queue_group: e.queue_group,
              num_requests: n,
              num_errors: s?.errors ?? 0,
              last_error: s?.lastError ?? "",
              processing_time: ns,
              average_processing_time: n === 0 ? 0 : Math.round(ns / n),
            };
          }),
        };
      }
    }
  };
  const subs: Subscription[] = [];
  const enc = new TextEncoder();
  for (const verb of VERBS) {
    // The instance's own subject is subscribed with a wildcard and matched when a request
    // comes, because the id may only be known once the server listens.
    for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${o.name}`, `$SRV.${verb}.${o.name}.*`]) {
      const own = subject.endsWith(".*") ? `$SRV.${verb}.${o.name}.` : undefined;
      subs.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err !== null || msg.reply === undefined || msg.reply === "") return;
            if (own !== undefined && msg.subject !== own + id()) return;
            try {
              msg.respond(enc.encode(JSON.stringify(answer(verb))));
            } catch {
              /* the connection is going away */
            }
          },
        }),
      );
    }
  }
  return () => {
    for (const s of subs) s.unsubscribe();
  };
}

function kind(m: { requestStream: boolean; responseStream: boolean }): string {
  if (m.requestStream && m.responseStream) return "bidi";
  if (m.requestStream) return "client_stream";
  return m.responseStream ? "server_stream" : "unary";
}
