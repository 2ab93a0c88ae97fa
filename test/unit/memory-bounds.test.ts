/**
 * The memory store keeps at most maxSessions sessions and maxNodes nodes, so callers allowed
 * FindNode or Register cannot exhaust its heap; past them a new one is refused (the service
 * answers RESOURCE_EXHAUSTED) and what is there keeps working.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/registry/memory.js";
import { StoreFullError } from "../../src/registry/errors.js";
import { Balancer } from "../../src/balancer/balancer.js";
import { createIslbService } from "../../src/islb/service.js";
import { ServerError, Status } from "../../src/status.js";
import { nodeRecord } from "../helpers/records.js";
import { registration } from "../../bench/service-fleet.js";
import { FindNodeRequest } from "../../generated/islb/islb.js";

const rec = (nid: string) => nodeRecord(nid);

test("past maxSessions a new session is refused; known ones are still found, and one ended makes room", async () => {
  const s = new MemoryStore({ maxSessions: 3 });
  await s.register(rec("n1"), "t");
  const pick = () => "n1";
  for (const sid of ["a", "b", "c"]) assert.equal((await s.placeSession("rtc", sid, pick, 60_000))?.nid, "n1");
  await assert.rejects(s.placeSession("rtc", "d", pick, 60_000), StoreFullError);
  assert.deepEqual(await s.placeSession("rtc", "a", pick, 60_000), { nid: "n1", placed: false }, "a known one");
  const adopted = await s.adoptSessions("rtc", "n1", ["e"], 60_000);
  assert.equal(adopted[0]?.outcome, "refused", "a reported one is not kept past the bound either");
  assert.equal(await s.releaseSession("rtc", "b"), "released");
  assert.equal((await s.placeSession("rtc", "d", pick, 60_000))?.placed, true, "room again");
});

test("sessions idle past their time make room at once, without waiting for the sweep", async () => {
  const s = new MemoryStore({ maxSessions: 2 });
  await s.register(rec("n1"), "t");
  await s.placeSession("rtc", "a", () => "n1", 1);
  await s.placeSession("rtc", "b", () => "n1", 1);
  await new Promise((r) => setTimeout(r, 1100)); // past the idle time and its 1 s expiry bucket
  assert.equal((await s.placeSession("rtc", "c", () => "n1", 60_000))?.placed, true);
});

test("past maxNodes a new node is refused; registered ones re-register; the service answers RESOURCE_EXHAUSTED", async () => {
  const s = new MemoryStore({ maxNodes: 2, maxSessions: 1 });
  const svc = createIslbService(s, new Balancer(s.view));
  const ctx = {} as never;
  await svc.register(registration("rtc", 0), ctx);
  await svc.register(registration("rtc", 1), ctx);
  await assert.rejects(
    svc.register(registration("rtc", 2), ctx),
    (e) => e instanceof ServerError && e.code === Status.RESOURCE_EXHAUSTED && /2 nodes, its limit/.test(e.details),
  );
  await svc.register(registration("rtc", 1), ctx); // a node already there is not refused
  await svc.findNode(FindNodeRequest.fromPartial({ service: "rtc", sid: "one" }), ctx);
  await assert.rejects(
    svc.findNode(FindNodeRequest.fromPartial({ service: "rtc", sid: "two" }), ctx),
    (e) => e instanceof ServerError && e.code === Status.RESOURCE_EXHAUSTED && /1 sessions, its limit/.test(e.details),
  );
  assert.equal(s.view.table.size, 2);
});
