/**
 * The memory store's leases and session idle times sit in expiry buckets that renewals do not
 * touch: the sweep finds each again and checks its exact end. These pin that a renewed lease
 * or session lives on, a shortened lease ends on time, and a stale bucket entry ends nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/registry/memory.js";
import { ZERO_LOAD } from "../../src/registry/records.js";
import { nodeRecord } from "../helpers/records.js";

const rec = (nid: string, leaseMs: number, now: number) => nodeRecord(nid, "rtc", leaseMs, now);
const beat = (s: MemoryStore, nid: string, now: number, leaseMs: number) =>
  s.heartbeat(nid, "t", { load: ZERO_LOAD, state: undefined, expiresAt: now + leaseMs, leaseMs }, undefined);

test("a lease renewed later lives past its first bucket; a shortened one ends on time; a stale entry ends nothing", async () => {
  const s = new MemoryStore();
  const t0 = Date.now();
  await s.register(rec("long", 1000, t0), "t");
  await s.register(rec("short", 10_000, t0), "t");
  await s.register(rec("again", 1000, t0), "t");
  await beat(s, "long", t0 + 500, 5000); // ends at t0 + 5500
  await beat(s, "short", t0 + 500, 1000); // ends at t0 + 1500
  await s.deregister("again", "t");
  await s.register(rec("again", 8000, t0 + 600), "t"); // ends at t0 + 8600
  await s.sweep(t0 + 1200);
  assert.ok(s.view.get("long") && s.view.get("short") && s.view.get("again"));
  await s.sweep(t0 + 1800); // buckets are 250 ms wide
  assert.equal(s.view.get("short"), undefined, "the shortened lease ended");
  assert.ok(s.view.get("long") && s.view.get("again"), "the renewed and the re-registered ones live on");
  await s.sweep(t0 + 5800);
  assert.equal(s.view.get("long"), undefined);
  assert.ok(s.view.get("again"));
  await s.sweep(t0 + 8900);
  assert.equal(s.view.get("again"), undefined);
});

test("a session renewed by lookups lives past its first bucket, and ends one idle time after its last lookup", async () => {
  const s = new MemoryStore();
  const t0 = Date.now();
  await s.register(rec("n1", 600_000, t0), "t");
  assert.equal((await s.placeSession("rtc", "room", () => "n1", 2000))?.placed, true);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await s.placeSession("rtc", "room", () => "n1", 2000))?.placed, false);
  const last = Date.now();
  await s.sweep(t0 + 2010);
  assert.equal(await s.sessionNode("rtc", "room"), "n1", "renewed: still placed");
  await s.sweep(last + 3200);
  assert.equal(await s.sessionNode("rtc", "room"), undefined);
  assert.equal((await s.placeSession("rtc", "room", () => "n1", 2000))?.placed, true, "placed anew");
});
