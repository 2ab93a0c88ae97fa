/** The NATS flags every client command takes, and the connection they make. */
import type { Command } from "commander";
import type { NatsConnection } from "nats";
import { silentLogger } from "../log.js";
import type { NatsConfig } from "./config.js";
import { connectNats } from "./connect.js";

export interface ClientFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  prefix?: string;
  nid?: string;
}

export function addClientFlags(cmd: Command): Command {
  return cmd
    .option("--nats <url>", "NATS server URL (env NATS_URL)", process.env.NATS_URL ?? "nats://127.0.0.1:4222")
    .option("--nats-user <user>", "NATS user")
    .option("--nats-password <password>", "NATS password")
    .option("--nats-token <token>", "NATS token")
    .option("--nats-creds <file>", "NATS credentials file")
    .option("--tls-ca <file>", "TLS CA certificate")
    .option("--tls-cert <file>", "TLS client certificate")
    .option("--tls-key <file>", "TLS client key")
    .option("--prefix <prefix>", "subject prefix", "nrpc")
    .option("--nid <nid>", "address the instance with this node id");
}

export function natsConfigOf(f: ClientFlags): NatsConfig {
  const tls = f.tlsCa || f.tlsCert || f.tlsKey ? { ca: f.tlsCa, cert: f.tlsCert, key: f.tlsKey } : undefined;
  return { url: f.nats ?? "nats://127.0.0.1:4222", user: f.natsUser, pass: f.natsPassword, token: f.natsToken, creds: f.natsCreds, tls };
}

export async function clientConnection(f: ClientFlags): Promise<NatsConnection> {
  try {
    return (await connectNats(natsConfigOf(f), "islb cli", silentLogger)).nc;
  } catch (e) {
    throw new Error(`cannot connect to NATS at ${f.nats}: ${(e as Error).message}`);
  }
}
