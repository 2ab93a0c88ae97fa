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
  const doc = JSON.parse(readFileSync(join(vectorsDir(), "nats-grpc", "captures.json"), "utf8")) as { scenarios: Scenario[] };
  return doc.scenarios;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
