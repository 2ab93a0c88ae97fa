import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, applyEnv, applyToml, defaults, loadConfig } from "../../src/cli/config.js";

const ION_ISLB_TOML = `
[global]
dc = "dc1"

[log]
level = "debug"

[nats]
url = "nats://127.0.0.1:4222"

[redis]
addrs = [":6379"]
password = ""
db = 0
`;

test("ion's islb.toml is accepted unchanged", () => {
  const c = applyToml(defaults(), ION_ISLB_TOML);
  assert.equal(c.dc, "dc1");
  assert.equal(c.logLevel, "debug");
  assert.equal(c.nats.url, "nats://127.0.0.1:4222");
  assert.deepEqual(c.redis, { addrs: [":6379"], password: undefined, db: 0, prefix: "islb:", masterName: undefined });
});

test("several redis addrs make a cluster config; sentinels and our own sections are read", () => {
  const c = applyToml(
    defaults(),
    `
[redis]
addrs = ["10.0.0.1:6379", "10.0.0.2:6379"]
[islb]
nid = "islb-7"
lease_ms = 9000
measure = "cpu"
two_choices = true
[islb.secrets]
rtc = "s3cret"
[metrics]
port = 9464
`,
  );
  assert.equal(c.redis?.addrs.length, 2);
  assert.equal(c.nid, "islb-7");
  assert.equal(c.leaseMs, 9000);
  assert.equal(c.measure, "cpu");
  assert.equal(c.twoChoices, true);
  assert.deepEqual(c.secrets, { rtc: "s3cret" });
  assert.equal(c.http, "127.0.0.1:9464", "[metrics] port is kept as the HTTP listener on loopback");
  const s = applyToml(defaults(), `[redis]\nsentinels = ["127.0.0.1:26379"]\nmaster_name = "m"`);
  assert.deepEqual([s.redis?.sentinels, s.redis?.masterName], [["127.0.0.1:26379"], "m"]);
  const sharded = applyToml(defaults(), `[redis]\naddrs = ["10.0.0.1:6379", "10.0.0.2:6379"]\nshards = 12`);
  assert.equal(sharded.redis?.shards, 12);
  assert.throws(() => applyToml(defaults(), `[redis]\naddrs = [":6379"]\nshards = 17`), /redis.shards/);
});

test("env over file, flags over env", () => {
  const c = applyEnv(applyToml(defaults(), ION_ISLB_TOML), {
    NATS_URL: "nats://env:4222",
    REDIS_URL: "redis://env:6379",
    ISLB_NID: "from-env",
  });
  assert.equal(c.nats.url, "nats://env:4222");
  assert.equal(c.redis?.url, "redis://env:6379");
  assert.equal(c.nid, "from-env");
  const f = loadConfig(
    { nats: "nats://flag:4222", nid: "from-flag", leaseMs: "4000" },
    { NATS_URL: "nats://env:4222", ISLB_NID: "from-env" },
  );
  assert.deepEqual([f.nats.url, f.nid, f.leaseMs], ["nats://flag:4222", "from-flag", 4000]);
});

test("bad configuration says what is wrong", () => {
  assert.throws(
    () => applyToml(defaults(), "[nats]\nurl = 5"),
    (e: unknown) => e instanceof ConfigError && /nats.url must be a string/.test(e.message),
  );
  assert.throws(() => applyToml(defaults(), '[islb]\nmeasure = "vibes"'), /measure must be one of/);
  assert.throws(() => applyToml(defaults(), "not toml ="), ConfigError);
  assert.throws(() => loadConfig({ config: "/nonexistent/islb.toml" }, {}), /cannot read/);
  assert.throws(() => loadConfig({ leaseMs: "-5" }, {}), /--lease-ms/);
});

test("admin token and watch history bounds: TOML keys, environment and flags", () => {
  const d = defaults();
  assert.equal(d.adminToken, "");
  assert.deepEqual(d.watchHistory, { changes: 100_000, bytes: 16 * 1024 * 1024, ageMs: 600_000 });
  const c = applyToml(
    d,
    `
[islb]
admin_token = "op"
watch_history_changes = 5000
watch_history_bytes = 1048576
watch_history_age_ms = 60000
`,
  );
  assert.equal(c.adminToken, "op");
  assert.deepEqual(c.watchHistory, { changes: 5000, bytes: 1048576, ageMs: 60000 });
  assert.equal(applyEnv(c, { ISLB_ADMIN_TOKEN: "from-env" }).adminToken, "from-env");
  const f = loadConfig({ adminToken: "from-flag", watchHistoryBytes: "2048", watchHistoryAgeMs: "1000" }, {});
  assert.equal(f.adminToken, "from-flag");
  assert.deepEqual(f.watchHistory, { changes: 100_000, bytes: 2048, ageMs: 1000 });
  assert.throws(() => applyToml(d, "[islb]\nwatch_history_bytes = 0\n"), ConfigError);
  assert.throws(() => applyToml(d, "[islb]\nwatch_history_age_ms = 1.5\n"), ConfigError);
  assert.throws(() => loadConfig({ watchHistoryChanges: "-1" }, {}), ConfigError);
});

test("the HTTP listener: [http] listen, ISLB_HTTP, --http (off: none), --metrics-port kept as loopback port; drain and log format", () => {
  assert.equal(defaults().http, "127.0.0.1:9464");
  assert.equal(applyToml(defaults(), `[http]\nlisten = "0.0.0.0:9000"`).http, "0.0.0.0:9000");
  assert.equal(applyEnv(defaults(), { ISLB_HTTP: "[::1]:9001" }).http, "[::1]:9001");
  assert.equal(loadConfig({ http: "off" }, {}).http, "");
  assert.equal(loadConfig({ metricsPort: "9100" }, {}).http, "127.0.0.1:9100");
  assert.equal(loadConfig({ drainMs: "12000" }, {}).drainMs, 12000);
  assert.equal(loadConfig({ logFormat: "json" }, {}).logFormat, "json");
  assert.throws(() => loadConfig({ logFormat: "xml" }, {}), /--log-format must be json, pretty or auto/);
});

test("a bad log level names the valid ones, from a flag, the environment or the file", () => {
  assert.throws(
    () => loadConfig({ logLevel: "loud" }, {}),
    /--log-level must be one of trace, debug, info, warn, error, fatal, silent, not "loud"/,
  );
  assert.throws(() => loadConfig({}, { LOG_LEVEL: "verbose" }), /LOG_LEVEL must be one of trace, debug/);
  assert.throws(() => applyToml(defaults(), `[log]\nlevel = "chatty"`), /log.level must be one of/);
});

test("unknown keys of the TOML file are named in warnings; ion's keys and ours are known", () => {
  const warnings: string[] = [];
  applyToml(defaults(), ION_ISLB_TOML, "islb.toml", warnings);
  assert.deepEqual(warnings, []);
  applyToml(
    defaults(),
    `[nats]\nurl = "nats://x:4222"\nrul = "typo"\n[islb]\nleas_ms = 1\n[islb.secrets]\nany-service = "ok"\n[telemetry]\non = true`,
    "islb.toml",
    warnings,
  );
  assert.deepEqual(warnings, [
    "islb.toml: unknown key nats.rul (ignored)",
    "islb.toml: unknown key islb.leas_ms (ignored)",
    "islb.toml: unknown key telemetry (ignored)",
  ]);
});

test("the README's TOML sample loads as it is, every key of it known", async () => {
  const { readFileSync } = await import("node:fs");
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = /```toml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, "the README has a TOML sample");
  const warnings: string[] = [];
  const c = applyToml(defaults(), block, "README.md", warnings);
  assert.deepEqual(warnings, []);
  assert.equal(c.dc, "dc1");
  assert.equal(c.http, "127.0.0.1:9464");
  assert.deepEqual(c.secrets, { rtc: "registration secret of the rtc service" });
});

test('session events: "moves" by default, "all" from [islb] session_events or --session-events, anything else refused', () => {
  assert.equal(defaults().sessionEvents, "moves");
  assert.equal(applyToml(defaults(), '[islb]\nsession_events = "all"').sessionEvents, "all");
  assert.equal(loadConfig({ sessionEvents: "all" }, {}).sessionEvents, "all");
  assert.throws(() => applyToml(defaults(), '[islb]\nsession_events = "some"'), /islb.session_events must be/);
  assert.throws(() => loadConfig({ sessionEvents: "none" }, {}), /--session-events must be "moves" or "all"/);
  const warnings: string[] = [];
  applyToml(defaults(), '[islb]\nsession_events = "moves"', "islb.toml", warnings);
  assert.deepEqual(warnings, [], "a known key");
});
