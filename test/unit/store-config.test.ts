/** Choosing the store: [store] kind/bucket/replicas, ISLB_STORE*, --store*, and --redis alone still meaning Redis. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, applyToml, defaults, loadConfig } from "../../src/cli/config.js";
import { storeKind } from "../../src/app/config.js";
import { storeName } from "../../src/app/store-name.js";
import { unknownKeys } from "../../src/cli/known-keys.js";

test("the default is the memory store; --redis or REDIS_URL alone still mean Redis", () => {
  assert.equal(storeKind(loadConfig({}, {})), "memory");
  assert.equal(storeKind(loadConfig({ redis: "redis://127.0.0.1:6379" }, {})), "redis");
  assert.equal(storeKind(loadConfig({}, { REDIS_URL: "redis://127.0.0.1:6379" })), "redis");
  assert.equal(
    storeKind(applyToml(defaults(), `[redis]\naddrs = ["127.0.0.1:6379"]\n`)),
    "redis",
    "ion's [redis] section",
  );
});

test("[store] kind = nats with bucket and replicas; env over file; flags over env", () => {
  const c = applyToml(defaults(), `[store]\nkind = "nats"\nbucket = "reg"\nreplicas = 3\n`);
  assert.deepEqual(c.store, { kind: "nats", bucket: "reg", replicas: 3 });
  assert.equal(storeName(c), "the NATS KV store (bucket reg)");
  assert.deepEqual(
    unknownKeys({ store: { kind: "nats", bucket: "b", replicas: 3, bukket: "x" } }),
    ["store.bukket"],
    "a misspelt key is named",
  );
  const dir = mkdtempSync(join(tmpdir(), "islb-store-"));
  const file = join(dir, "islb.toml");
  writeFileSync(file, `[store]\nkind = "nats"\nbucket = "reg"\n`);
  assert.deepEqual(loadConfig({ config: file }, { ISLB_STORE_BUCKET: "env-b", ISLB_STORE_REPLICAS: "5" }).store, {
    kind: "nats",
    bucket: "env-b",
    replicas: 5,
  });
  assert.deepEqual(
    loadConfig({ config: file, storeBucket: "flag-b", storeReplicas: "3" }, { ISLB_STORE_BUCKET: "env-b" }).store,
    { kind: "nats", bucket: "flag-b", replicas: 3 },
  );
  assert.equal(
    storeKind(loadConfig({ store: "nats" }, { REDIS_URL: "redis://x:1" })),
    "nats",
    "--store over REDIS_URL",
  );
  assert.equal(storeKind(loadConfig({ store: "memory", config: file }, {})), "memory");
  assert.equal(storeKind(loadConfig({ config: file }, { ISLB_STORE: "memory" })), "memory");
});

test("bad store settings say what is wrong", () => {
  assert.throws(
    () => loadConfig({ store: "etcd" }, {}),
    (e: unknown) => e instanceof ConfigError && /--store must be memory, redis or nats, not "etcd"/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ store: "nats", storeReplicas: "2" }, {}),
    /--store-replicas must be 1, 3 or 5, not 2/,
  );
  assert.throws(() => loadConfig({ store: "nats", storeBucket: "a.b" }, {}), /--store-bucket must be 1 to 64 letters/);
  assert.throws(() => applyToml(defaults(), `[store]\nreplicas = "3"\n`), /store.replicas must be a number/);
  assert.throws(() => loadConfig({ store: "redis" }, {}), /the redis store needs/);
  assert.throws(() => loadConfig({ store: "nats", redis: "redis://x:1" }, {}), /--redis and --store nats: pick one/);
});
