/** Child processes a test runs (node scripts, the islb bin): output captured, waited for, stopped by PID. */
import { spawn, type ChildProcess } from "node:child_process";
import { killOnExit } from "./nats-server.js";

/** A process a test started, with what it printed so far. */
export interface Proc {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches `re` (rejects after `ms`, or when the process exits first). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Resolves with the exit code (or the signal's name) once it exits. */
  exited(): Promise<number | string>;
  /** Sends `sig` and waits for the exit. */
  stop(sig?: NodeJS.Signals): Promise<number | string>;
}

export function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(child);
  let out = "";
  const listeners = new Set<() => void>();
  const add = (b: Buffer): void => {
    out += b.toString("utf8");
    for (const l of listeners) l();
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  const exit = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );
  return {
    child,
    output: () => out,
    waitFor(re, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!re.test(out)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${cmd} ${args.join(" ")}: no ${re} after ${ms} ms; output:\n${out}`));
        }, ms);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exit.then((code) => {
          if (!listeners.has(check)) return;
          done();
          if (re.test(out)) resolve();
          else reject(new Error(`${cmd} ${args.join(" ")} exited (${code}) before printing ${re}; output:\n${out}`));
        });
        check();
      });
    },
    exited: () => exit,
    async stop(sig = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exit;
    },
  };
}
