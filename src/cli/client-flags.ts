/** The NATS flags every client command takes, and the connection they make. */
import type { Command } from "commander";
import type { NatsConnection } from "nats";
import { silentLogger } from "../log.js";
import { applyNatsFlags, type NatsConfig, type NatsFlags } from "./config.js";
import { connectNats } from "./connect.js";

export interface ClientFlags extends NatsFlags {
  prefix?: string;
  nid?: string;
}

/** The NATS connection flags (serve and every client command). */
export function addNatsFlags(cmd: Command, defaultUrl?: string): Command {
  return cmd
    .option("--nats <url>", "NATS server URL (env NATS_URL)", defaultUrl)
    .option("--nats-user <user>", "NATS user")
    .option("--nats-password <password>", "NATS password")
    .option("--nats-token <token>", "NATS token")
    .option("--nats-creds <file>", "NATS credentials file")
    .option("--tls-ca <file>", "TLS CA certificate")
    .option("--tls-cert <file>", "TLS client certificate")
    .option("--tls-key <file>", "TLS client key");
}

export function addClientFlags(cmd: Command): Command {
  return addNatsFlags(cmd, process.env.NATS_URL ?? "nats://127.0.0.1:4222")
    .option("--prefix <prefix>", "subject prefix", "nrpc")
    .option("--nid <nid>", "address the instance with this node id");
}

export function natsConfigOf(f: ClientFlags): NatsConfig {
  return applyNatsFlags({ url: "nats://127.0.0.1:4222" }, f);
}

export async function clientConnection(f: ClientFlags): Promise<NatsConnection> {
  return (await connectNats(natsConfigOf(f), "islb cli", silentLogger)).nc;
}
