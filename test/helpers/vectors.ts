/** The captured frames in ../shared/vectors (beside the repository, or $ISLB_VECTORS). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface CapturedFrame {
  t_ms: number;
  dir: "client->server" | "server->client";
  subject: string;
  reply: string | null;
  headers: unknown;
  hex: string;
  decoded: Array<Record<string, unknown>>;
}

export interface Scenario {
  client: string;
  command: string;
  client_exit: number;
  client_stdout: string;
  frames: CapturedFrame[];
}

/** The vectors folder: $ISLB_VECTORS, else ../shared/vectors from the repository root. */
export function vectorsDir(): string {
  if (process.env.ISLB_VECTORS) return process.env.ISLB_VECTORS;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = resolve(dir, "..", "shared", "vectors");
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, "..");
  }
  throw new Error("shared/vectors not found: set ISLB_VECTORS");
}

export function natsGrpcScenarios(): Scenario[] {
  const doc = JSON.parse(readFileSync(join(vectorsDir(), "nats-grpc", "captures.json"), "utf8")) as {
    scenarios: Scenario[];
  };
  return doc.scenarios;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

/** A decoded gob value as Go's decoded_json shows it: maps as objects, interface values bare, bytes as base64. */
export function plainGo(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plainGo(x)]));
  if (Array.isArray(v)) return v.map(plainGo);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (v !== null && typeof v === "object") {
    if ("type" in v && "value" in v && Object.keys(v).length === 2) return plainGo((v as { value: unknown }).value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainGo(x)]));
  }
  return v;
}

export interface DiscoveryFrame {
  subject: string;
  reply?: string | null;
  hex: string;
  go_type: string;
  decoded_json: unknown;
}

export function discoveryScenarios(): Array<{ scenario: string; frames: DiscoveryFrame[] }> {
  return JSON.parse(readFileSync(join(vectorsDir(), "nats-discovery", "captures.json"), "utf8")) as Array<{
    scenario: string;
    frames: DiscoveryFrame[];
  }>;
}
