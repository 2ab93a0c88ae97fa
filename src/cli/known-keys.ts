/**
 * The keys islb's TOML file may have (ion's islb.toml keys among them), so a misspelt or
 * unsupported key is named in a warning instead of being ignored without a word.
 */

type Table = Record<string, unknown>;

/** Known keys by table; a table inside a table ("islb.secrets") takes any key. */
const KNOWN: Record<string, readonly string[] | "any"> = {
  global: ["dc"],
  log: ["level", "format"],
  nats: ["url", "user", "password", "token", "creds", "tls_ca", "tls_cert", "tls_key", "inbox_prefix"],
  redis: ["addrs", "password", "db", "prefix", "sentinels", "master_name"],
  islb: [
    "nid",
    "prefix",
    "lease_ms",
    "heartbeat_ms",
    "session_idle_ms",
    "session_events",
    "measure",
    "two_choices",
    "ion_discovery",
    "admin_token",
    "drain_ms",
    "watch_history_changes",
    "max_sessions",
    "max_nodes",
    "watch_history_bytes",
    "watch_history_age_ms",
    "secrets",
  ],
  "islb.secrets": "any",
  http: ["listen"],
  metrics: ["port"],
  gateway: "any",
  store: ["kind", "bucket", "replicas"],
};

const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** The dotted names of the keys of `doc` that islb does not know. */
export function unknownKeys(doc: Table): string[] {
  const out: string[] = [];
  const walk = (t: Table, path: string): void => {
    const known = KNOWN[path];
    for (const [k, v] of Object.entries(t)) {
      const name = path === "" ? k : `${path}.${k}`;
      if (path === "") {
        if (KNOWN[k] === undefined) out.push(name);
        else if (isTable(v)) walk(v, k);
        continue;
      }
      if (known === "any") continue;
      if (known === undefined || !known.includes(k)) out.push(name);
      else if (isTable(v) && KNOWN[name] !== undefined) walk(v, name);
    }
  };
  walk(doc, "");
  return out;
}
