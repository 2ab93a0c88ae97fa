/**
 * The real islb, as users run it: `islb serve` in its own process (memory store, then the
 * Redis store), called from a separate client process with the typed client, 64 in flight,
 * next to bare default `nc.request` to a bare responder (same 5-node reply) in the same run.
 * Each kind has one client process for the whole run (warm and connected: a window costs its
 * 100 ms ramp and its measured time, not a process start and 700 ms of warm-up, so short
 * windows and more rounds fit in the same time). Scenarios run in rounds (each round starting
 * one scenario later) with a bare window between every two: each figure is the median of its
 * windows, each ratio the median of the scenario's ratios to the mean of the bare windows on
 * either side of it. CPU is from /proc: islb, redis-server (Redis rows) and nats-server.
 *   node dist/bench/service.js [--ms 2000] [--inflight 64] [--rounds 3] [--store memory|redis|both] [--kinds list,new,...]
 * Profiles: BENCH_PROF=<dir> (the islb process), BENCH_PROF_CLIENT=<dir> (each client process).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { createClient } from "../src/index.js";
import { ISLBDefinition } from "../generated/islb/islb.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startRedisServer, type RedisServerProcess } from "../test/helpers/redis-server.js";
import { cpuMicros } from "./cpu.js";
import { median } from "./median.js";
import { FLEET, LIST_SERVICE, SESSION_SERVICE, registration } from "./service-fleet.js";
import { expectLine, lines } from "./child-lines.js";
import { option } from "./options.js";

const MS = Number(option("ms", "2000"));
const INFLIGHT = Number(option("inflight", "64"));
const ROUNDS = Math.max(1, Number(option("rounds", "3")));
const STORES = option("store", "both") === "both" ? ["memory", "redis"] : [option("store", "both")];
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const CLIENT = here("./service-client.js");
const PEER = here("./peer.js");
const MAIN = here("../src/cli/main.js");

interface Round {
  perSec: number;
  /** CPU µs per call: client, islb (or the bare responder), redis-server, nats-server. */
  split: number[];
  p50: number;
  p99: number;
  /** Calls/s over the mean of the bare windows right before and after (scenarios only). */
  ratio?: number;
}

/** A client process of one kind, kept up between its windows (see service-client.ts). */
interface Client {
  readonly child: ChildProcess;
  readonly out: AsyncIterator<string>;
}

/** Starts the client of `kind`; it measures a window per line written to it. */
async function startClient(kind: string, natsUrl: string): Promise<Client> {
  // BENCH_PROF_CLIENT=<dir>: each client process writes a CPU profile there.
  const prof = process.env.BENCH_PROF_CLIENT ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROF_CLIENT] : [];
  const child = spawn(process.execPath, [...prof, CLIENT, kind, natsUrl, String(INFLIGHT)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const out = lines(child);
  await expectLine(out, "ready");
  return { child, out };
}

let windows = 0;
async function measure(client: Client, serverPid: number, redisPid: number, natsPid: number): Promise<Round> {
  const { child, out } = client;
  child.stdin?.write(`${MS} ${windows++}\n`);
  await expectLine(out, "start");
  const pids = [child.pid as number, serverPid, redisPid, natsPid];
  const before = pids.map((p) => (p > 0 ? cpuMicros(p) : 0));
  const t0 = performance.now();
  await expectLine(out, "stop");
  const seconds = (performance.now() - t0) / 1000;
  const after = pids.map((p) => (p > 0 ? cpuMicros(p) : 0));
  const r = JSON.parse(await expectLine(out)) as { calls: number; p50: number; p99: number };
  return {
    perSec: r.calls / seconds,
    split: after.map((v, i) => (v - (before[i] as number)) / r.calls),
    p50: r.p50,
    p99: r.p99,
  };
}

/** The environment without islb's own variables (the flags say everything). */
function withoutIslbEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ["ISLB_CONFIG", "REDIS_URL", "NATS_URL", "ISLB_NID", "ISLB_HTTP", "LOG_LEVEL"]) delete env[k];
  return env;
}

/** Starts `islb serve` on `natsUrl` (and Redis) and registers the bench fleet through it. */
async function startIslb(natsUrl: string, redisUrl: string | undefined): Promise<ChildProcess> {
  const flags = [
    "serve",
    "--nats",
    natsUrl,
    "--http",
    "off",
    "--log-level",
    "warn",
    "--nid",
    "islb-bench",
    "--no-ion-discovery",
    ...(redisUrl ? ["--redis", redisUrl] : []),
  ];
  // BENCH_PROF=<dir>: islb writes a CPU profile there when it is stopped (SIGINT).
  const prof = process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROF] : [];
  const child = spawn(process.execPath, [...prof, MAIN, ...flags], {
    stdio: ["ignore", "inherit", "inherit"],
    env: withoutIslbEnv(),
  });
  const nc = await connect({ servers: natsUrl });
  const c = createClient(ISLBDefinition, nc);
  try {
    for (let i = 0; ; i++) {
      try {
        await c.register(registration(LIST_SERVICE, 0), { deadline: 500 });
        break;
      } catch (e) {
        if (i > 100 || child.exitCode !== null) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const writes: Promise<unknown>[] = [];
    for (let i = 1; i < 5; i++) writes.push(c.register(registration(LIST_SERVICE, i)));
    for (let i = 0; i < FLEET; i++) writes.push(c.register(registration(SESSION_SERVICE, i)));
    await Promise.all(writes);
  } finally {
    await nc.close();
  }
  return child;
}

const KINDS: Array<[string, string]> = [
  ["bare", "bare default nc.request (5-node reply)"],
  ["list", "list of 5"],
  ["list-deadline", "list of 5, {deadline: 5000}"],
  ["list-deadline-date", "list of 5, {deadline: a Date 5 s ahead}"],
  ["new", "new session (placement)"],
  ["known", "known session"],
  ["heartbeat", `heartbeat (${FLEET.toLocaleString("en")} nodes, load only)`],
  ["heartbeat-agent", "heartbeat as the agent sends it (registration, deadline)"],
];

const ONLY = option("kinds", "");
if (ONLY !== "") {
  const keep = new Set(["bare", ...ONLY.split(",")]);
  KINDS.splice(0, KINDS.length, ...KINDS.filter(([k]) => keep.has(k)));
}

const ns = await startNatsServer();
const bare = spawn(process.execPath, [PEER, "server", "bare", ns.url], { stdio: ["ignore", "pipe", "inherit"] });
await expectLine(lines(bare), "ready");
const results = new Map<string, Round[]>();
const keep = (key: string, r: Round): void => void results.set(key, [...(results.get(key) ?? []), r]);
try {
  for (const store of STORES) {
    let redis: RedisServerProcess | undefined;
    if (store === "redis") redis = await startRedisServer();
    const islb = await startIslb(ns.url, redis?.url);
    const clients = new Map<string, Client>();
    try {
      for (const [kind] of KINDS) clients.set(kind, await startClient(kind, ns.url));
      const run = async (kind: string): Promise<Round> => {
        const serverPid = kind === "bare" ? (bare.pid as number) : (islb.pid as number);
        const client = clients.get(kind) as Client;
        const r = await measure(client, serverPid, kind === "bare" ? 0 : (redis?.pid ?? 0), ns.pid);
        process.stderr.write(`  ${kind}: ${Math.round(r.perSec)}/s\n`);
        return r;
      };
      const scenarios = KINDS.filter(([k]) => k !== "bare");
      for (let round = 1; round <= ROUNDS; round++) {
        process.stderr.write(`${store} store, round ${round} of ${ROUNDS}: ${INFLIGHT} in flight, ${MS} ms each\n`);
        // Each round starts one scenario later, so none always runs right after the same other one;
        // a bare window runs between every two scenarios, and each scenario's ratio is to the mean
        // of the bare windows on either side of it (the machine's speed drifts within a round).
        const order = scenarios.map((_, i) => scenarios[(i + round - 1) % scenarios.length] as [string, string]);
        let before = await run("bare");
        keep(`${store}/bare`, before);
        for (const [kind] of order) {
          const r = await run(kind);
          const after = await run("bare");
          keep(`${store}/bare`, after);
          keep(`${store}/${kind}`, { ...r, ratio: (2 * r.perSec) / (before.perSec + after.perSec) });
          before = after;
        }
      }
    } finally {
      for (const { child } of clients.values()) {
        child.stdin?.end();
        if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
      }
      if (process.env.BENCH_PROF) {
        islb.kill("SIGINT");
        await new Promise((r) => islb.once("exit", r));
      } else islb.kill("SIGKILL");
      await redis?.stop();
    }
  }
} finally {
  bare.kill("SIGKILL");
  await ns.stop();
}

const f = (n: number, d = 0): string => n.toFixed(d);
console.log(
  `\nthe real islb serve, separate client process, typed client, ${INFLIGHT} in flight, ${MS} ms a scenario, median of ${ROUNDS} rounds, each scenario between two bare windows`,
);
console.log(
  "| store | call | calls/s | × bare default | client CPU µs/call | islb CPU µs/call | redis-server µs/call | nats-server µs/call | p50 ms | p99 ms |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const store of STORES) {
  for (const [kind, label] of KINDS) {
    const rs = results.get(`${store}/${kind}`) as Round[];
    const ratio = kind === "bare" ? 1 : median(rs.map((r) => r.ratio as number));
    const col = (j: number): number => median(rs.map((r) => r.split[j] as number));
    console.log(
      `| ${store} | ${label} | ${f(median(rs.map((r) => r.perSec)))} | ${f(ratio, 2)} | ${f(col(0), 1)} | ${f(col(1), 1)} | ${kind === "bare" || store === "memory" ? "" : f(col(2), 1)} | ${f(col(3), 1)} | ${f(median(rs.map((r) => r.p50)), 2)} | ${f(median(rs.map((r) => r.p99)), 2)} |`,
    );
  }
}
