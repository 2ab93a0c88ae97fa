/** The configured store as logs and the cluster page name it, never with its password. */
import { storeKind, type Config } from "./config.js";

export function storeName(config: Config): string {
  const kind = storeKind(config);
  if (kind === "nats") return `the NATS KV store (bucket ${config.store?.bucket ?? "islb"})`;
  const r = config.redis;
  if (kind === "memory" || r === undefined) return "the memory store";
  if (r.url !== undefined) {
    try {
      const u = new URL(r.url);
      return `the Redis store at ${u.host}`;
    } catch {
      return "the Redis store";
    }
  }
  if ((r.sentinels?.length ?? 0) > 0)
    return `the Redis store (Sentinel ${r.masterName ?? ""} via ${r.sentinels?.join(",")})`;
  return r.addrs.length > 1 ? `the Redis Cluster at ${r.addrs.join(",")}` : `the Redis store at ${r.addrs[0] ?? "?"}`;
}
