/**
 * The gateway benchmark: unary FindNode (5 nodes) from a grpc-js client, straight to a
 * grpc-js server, against the same client through the gateway to our server on NATS, every
 * side in its own process, in rounds in one run (each figure the median of its rounds).
 * Prints calls/s, CPU µs per call (every process of the path, nats-server included), p50/p99
 * and the ratio of the gateway path to the direct one.
 *   node dist/bench/gateway.js [--ms 3000] [--inflight 64] [--rounds 3]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { freePort, startNatsServer } from "../test/helpers/nats-server.js";
import { cpuMicros } from "./cpu.js";
import { medianBy } from "./median.js";
import { expectLine, lines } from "./child-lines.js";
import { numberOption } from "./options.js";

const MS = numberOption("ms", 3000);
const INFLIGHT = numberOption("inflight", 64);
const ROUNDS = Math.max(1, numberOption("rounds", 3));
const PEER = fileURLToPath(new URL("./peer.js", import.meta.url));
const GW_PEER = fileURLToPath(new URL("./gateway-peer.js", import.meta.url));

interface Result {
  name: string;
  perSec: number;
  cpuUsPerCall: number;
  /** CPU µs per call of each process, in the order of `parts`. */
  split: number[];
  parts: string[];
  p50: number;
  p99: number;
}

async function started(file: string, argv: string[]): Promise<ChildProcess> {
  const c = spawn(process.execPath, [file, ...argv], { stdio: ["ignore", "pipe", "inherit"] });
  await expectLine(lines(c), "ready");
  return c;
}

/** Runs the grpc-js client against `port` while `servers` (name, process) run; measures them all. */
async function measure(name: string, port: number, servers: Array<[string, number]>): Promise<Result> {
  const client = spawn(process.execPath, [PEER, "client", "grpcjs", "-", String(MS), String(INFLIGHT), String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = lines(client);
  await expectLine(out, "start");
  const pids = [client.pid as number, ...servers.map(([, pid]) => pid)];
  const before = pids.map(cpuMicros);
  const t0 = performance.now();
  await expectLine(out, "stop");
  const seconds = (performance.now() - t0) / 1000;
  const after = pids.map(cpuMicros);
  const r = JSON.parse(await expectLine(out)) as { calls: number; p50: number; p99: number };
  const split = after.map((v, i) => (v - (before[i] as number)) / r.calls);
  return {
    name,
    perSec: r.calls / seconds,
    cpuUsPerCall: split.reduce((a, v) => a + v, 0),
    split,
    parts: ["client", ...servers.map(([n]) => n)],
    p50: r.p50,
    p99: r.p99,
  };
}

async function direct(): Promise<Result> {
  const port = await freePort();
  const server = await started(PEER, ["server", "grpcjs", "-", String(port)]);
  try {
    return await measure("grpc-js -> grpc-js server (direct)", port, [["grpc-js server", server.pid as number]]);
  } finally {
    server.kill("SIGKILL");
  }
}

async function viaGateway(natsUrl: string, natsPid: number, micro: boolean): Promise<Result> {
  const port = await freePort();
  const server = await started(GW_PEER, ["server", natsUrl, micro ? "micro" : "nomicro"]);
  const gw = await started(GW_PEER, ["gateway", natsUrl, String(port)]);
  try {
    const name = micro
      ? "grpc-js -> gateway -> NATS -> our server (kind known: one NATS request)"
      : "grpc-js -> gateway -> NATS -> our server (kind unknown: a stream)";
    return await measure(name, port, [
      ["gateway", gw.pid as number],
      ["our server", server.pid as number],
      ["nats-server", natsPid],
    ]);
  } finally {
    gw.kill("SIGKILL");
    server.kill("SIGKILL");
  }
}

const rounds = new Map<string, Result[]>();
const ns = await startNatsServer();
try {
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(
      `round ${round} of ${ROUNDS}: unary FindNode (5 nodes), ${INFLIGHT} in flight, ${MS} ms each\n`,
    );
    for (const run of [
      () => direct(),
      () => viaGateway(ns.url, ns.pid, true),
      () => viaGateway(ns.url, ns.pid, false),
    ]) {
      const r = await run();
      rounds.set(r.name, [...(rounds.get(r.name) ?? []), r]);
      process.stderr.write(`  ${r.name}: ${Math.round(r.perSec)}/s\n`);
    }
  }
} finally {
  await ns.stop();
}
const results = [...rounds.values()].map((rs) => {
  const m = medianBy(rs, (r) => r.perSec);
  const c = medianBy(rs, (r) => r.cpuUsPerCall);
  return { ...m, cpuUsPerCall: c.cpuUsPerCall, split: c.split };
});
const base = results[0] as Result;
const f = (n: number, d = 0): string => n.toFixed(d);
console.log(
  `\nunary FindNode (5 nodes), grpc-js client, ${INFLIGHT} in flight, ${MS} ms a scenario, median of ${ROUNDS} rounds`,
);
console.log("| path | calls/s | × direct | CPU µs/call | per process | p50 ms | p99 ms |");
console.log("|---|---:|---:|---:|---|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.name} | ${f(r.perSec)} | ${f(r.perSec / base.perSec, 2)} | ${f(r.cpuUsPerCall, 1)} | ${r.parts.map((p, i) => `${p} ${f(r.split[i] as number, 1)}`).join(", ")} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |`,
  );
}
const known = results[1] as Result;
const names = [...rounds.keys()];
const perRound = (rounds.get(names[1] as string) ?? []).map(
  (r, i) => r.perSec / ((rounds.get(names[0] as string) ?? [])[i] as Result).perSec,
);
console.log(
  `\ngateway (kind known) / direct: ${f(known.perSec / base.perSec, 2)}× the calls/s (target ≥ 0.80); round by round: ${perRound.map((x) => f(x, 2)).join(", ")}`,
);
const cpuRound = (rounds.get(names[1] as string) ?? []).map(
  (r, i) => ((rounds.get(names[0] as string) ?? [])[i] as Result).cpuUsPerCall / r.cpuUsPerCall,
);
console.log(
  `CPU per call, direct / via the gateway (kind known): ${f(base.cpuUsPerCall / known.cpuUsPerCall, 2)} (${f(base.cpuUsPerCall)} / ${f(known.cpuUsPerCall)} µs; the calls/s ratio when every process competes for the cores); round by round: ${cpuRound.map((x) => f(x, 2)).join(", ")}`,
);
console.log(
  `load average at the end: ${loadavg()
    .map((x) => f(x, 1))
    .join(", ")} on ${cpus().length} cores`,
);
