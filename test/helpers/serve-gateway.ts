/** `islb serve --gateway` in a child process, for tests that reach its embedded gateway. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/**
 * Starts `islb serve --gateway 127.0.0.1:0 --http off --log-format json` with `args`; resolves
 * with the child and the address its gateway listens on (from its start-up log line).
 */
export async function serveWithGateway(args: string[]): Promise<{ child: ChildProcess; gatewayAt: string }> {
  const child = spawn(
    process.execPath,
    [MAIN, "serve", ...args, "--http", "off", "--gateway", "127.0.0.1:0", "--log-format", "json"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  try {
    const gatewayAt = await new Promise<string>((resolve, reject) => {
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /"gateway":"([^"]+)"/.exec(out);
        if (m) resolve(m[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`islb serve exited ${code}: ${out}`)));
    });
    return { child, gatewayAt };
  } catch (e) {
    child.kill("SIGTERM");
    throw e;
  }
}

/** Stops a child started by serveWithGateway and waits for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}
