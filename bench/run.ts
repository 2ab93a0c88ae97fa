/**
 * The transport benchmark: each scenario runs its server and client in separate processes
 * against one nats-server, back to back in this one run, and prints calls/s at N in flight,
 * CPU µs per call (client + server + nats-server), p50/p99 latency, and ratios to bare NATS.
 * Scenarios run in rounds (all of them, in turn, each round), and each figure is the median of
 * its rounds, so a slow spell of a shared machine moves every scenario alike, not one.
 *   node dist/bench/run.js [--ms 3000] [--inflight 64] [--rounds 3]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { freePort } from "../test/helpers/nats-server.js";
import { cpuMicros } from "./cpu.js";
import { median, medianBy } from "./median.js";
import { expectLine, lines } from "./child-lines.js";
import { numberOption } from "./options.js";

const MS = numberOption("ms", 3000);
const INFLIGHT = numberOption("inflight", 64);
const ROUNDS = Math.max(1, numberOption("rounds", 3));
const PEER = fileURLToPath(new URL("./peer.js", import.meta.url));

interface Result {
  name: string;
  calls: number;
  messages: number;
  perSec: number;
  cpuUsPerCall: number;
  /** CPU µs per call of the client, the server and nats-server, in that order. */
  split: number[];
  p50: number;
  p99: number;
}

async function scenario(
  name: string,
  serverKind: string,
  clientKind: string,
  natsUrl: string,
  natsPid: number,
  inflight = INFLIGHT,
): Promise<Result> {
  const grpcPort = String(await freePort());
  const server = spawn(process.execPath, [PEER, "server", serverKind, natsUrl, grpcPort], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await expectLine(lines(server), "ready");
    const client = spawn(
      process.execPath,
      [PEER, "client", clientKind, natsUrl, String(MS), String(inflight), grpcPort],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const out = lines(client);
    await expectLine(out, "start");
    const pids = [client.pid as number, server.pid as number, ...(serverKind === "grpcjs" ? [] : [natsPid])];
    const before = pids.map(cpuMicros);
    const t0 = performance.now();
    await expectLine(out, "stop");
    const seconds = (performance.now() - t0) / 1000;
    const after = pids.map(cpuMicros);
    const r = JSON.parse(await expectLine(out)) as { calls: number; messages: number; p50: number; p99: number };
    const units = r.messages > 0 ? r.messages : r.calls;
    const split = after.map((v, i) => (v - (before[i] as number)) / units);
    const cpu = split.reduce((a, v) => a + v, 0);
    return {
      name,
      calls: r.calls,
      messages: r.messages,
      perSec: units / seconds,
      cpuUsPerCall: cpu,
      split,
      p50: r.p50,
      p99: r.p99,
    };
  } finally {
    server.kill("SIGKILL");
  }
}

/** The median round of a scenario, by rate; its CPU is the median of the rounds' CPU figures. */
function medianRound(rs: Result[]): Result {
  const m = medianBy(rs, (r) => r.perSec);
  const atCpu = medianBy(rs, (r) => r.cpuUsPerCall);
  return { ...m, cpuUsPerCall: atCpu.cpuUsPerCall, split: atCpu.split };
}

const unary: Array<[string, string, string]> = [
  ["bare nats request (default)", "bare", "bare-default"],
  ["bare nats request (noAsyncTraces)", "bare", "bare-noasync"],
  ["bare nats + ts-proto by hand (noAsyncTraces)", "bare-proto", "bare-proto"],
  ["islb native binary", "ours", "native-binary"],
  ["islb native JSON", "ours", "native-json"],
  ["islb nats-grpc compat", "ours", "compat"],
  ["grpc-js over HTTP/2", "grpcjs", "grpcjs"],
];
const streaming: Array<[string, string, string]> = [
  ["bare nats pub/sub stream", "stream-bare", "stream-bare"],
  ["islb native server stream", "stream-ours", "stream-ours"],
];
const rounds = new Map<string, Result[]>();
const ns = await startNatsServer();
try {
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(
      `round ${round} of ${ROUNDS}: unary FindNode (5 nodes), ${INFLIGHT} in flight, ${MS} ms each; then server streaming, one stream\n`,
    );
    for (const [name, s, c, inflight] of [...unary, ...streaming.map(([n, s, c]) => [n, s, c, 1] as const)]) {
      const r = await scenario(name, s, c, ns.url, ns.pid, inflight);
      rounds.set(name, [...(rounds.get(name) ?? []), r]);
      process.stderr.write(`  ${name}: ${Math.round(r.perSec)}/s\n`);
    }
  }
} finally {
  await ns.stop();
}
const results = [...rounds.values()].map(medianRound);

const by = (n: string): Result => results.find((r) => r.name === n) as Result;
const bareD = by("bare nats request (default)");
const bareN = by("bare nats request (noAsyncTraces)");
const f = (n: number, d = 0): string => n.toFixed(d);
console.log(
  `\nunary: ${INFLIGHT} in flight, ${MS} ms a scenario, median of ${ROUNDS} rounds, same messages (FindNodeRequest -> FindNodeReply with 5 nodes)`,
);
console.log(
  "| scenario | calls/s | CPU µs/call | client / server / nats-server | p50 ms | p99 ms | × bare default | × bare noAsyncTraces | CPU × bare default |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results.filter((x) => x.messages === 0)) {
  console.log(
    `| ${r.name} | ${f(r.perSec)} | ${f(r.cpuUsPerCall, 1)} | ${r.split.map((v) => f(v, 1)).join(" / ")} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.perSec / bareD.perSec, 2)} | ${f(r.perSec / bareN.perSec, 2)} | ${f(r.cpuUsPerCall / bareD.cpuUsPerCall, 2)} |`,
  );
}
const grpcjs = by("grpc-js over HTTP/2");
const sb = by("bare nats pub/sub stream");
const so = by("islb native server stream");
console.log("\nserver streaming (one stream, 10,000 messages a call):");
console.log("| scenario | messages/s | CPU µs/message | × bare pub/sub |");
console.log("|---|---:|---:|---:|");
for (const r of [sb, so])
  console.log(`| ${r.name} | ${f(r.perSec)} | ${f(r.cpuUsPerCall, 2)} | ${f(r.perSec / sb.perSec, 2)} |`);
/** The median over rounds of a per-round ratio (each round's pair ran back to back). */
function ratio(a: string, b: string, of: (r: Result) => number): number {
  const ra = rounds.get(a) as Result[];
  const rb = rounds.get(b) as Result[];
  return median(ra.map((r, i) => of(r) / of(rb[i] as Result)));
}
const rate = (r: Result): number => r.perSec;
const cpuOf = (r: Result): number => r.cpuUsPerCall;
const NATIVE = "islb native binary";
const targets: Array<[string, number, number, boolean]> = [
  ["native calls/s ≥ 1.2 × bare default", ratio(NATIVE, bareD.name, rate), 1.2, true],
  ["native calls/s ≥ 0.9 × bare noAsyncTraces", ratio(NATIVE, bareN.name, rate), 0.9, true],
  ["native CPU/call ≤ 0.9 × bare default", ratio(NATIVE, bareD.name, cpuOf), 0.9, false],
  ["native calls/s ≥ 3 × grpc-js", ratio(NATIVE, grpcjs.name, rate), 3, true],
  ["stream messages/s ≥ 0.5 × bare pub/sub", ratio(so.name, sb.name, rate), 0.5, true],
];
console.log(`\ntargets: each the median over the ${ROUNDS} rounds of that round's ratio`);
console.log("\n| target | measured | met |");
console.log("|---|---:|---|");
for (const [name, v, t, higher] of targets)
  console.log(`| ${name} | ${f(v, 2)} | ${(higher ? v >= t : v <= t) ? "yes" : "no"} |`);
const byHand = "bare nats + ts-proto by hand (noAsyncTraces)";
console.log(
  `| (no target) native calls/s × the same work by hand on nats.js | ${f(ratio(NATIVE, byHand, rate), 2)} | |`,
);
console.log(
  `| (no target) native CPU/call × the same work by hand on nats.js | ${f(ratio(NATIVE, byHand, cpuOf), 2)} | |`,
);
