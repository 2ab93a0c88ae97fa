/** Reading a benchmark child process's stdout line by line (its readiness and result lines). */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** The lines `child` prints. */
export function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
}

/** The next line; with `want`, it must be exactly that. */
export async function expectLine(it: AsyncIterator<string>, want?: string): Promise<string> {
  const r = await it.next();
  if (r.done === true) throw new Error(`process ended before printing ${want ?? "a line"}`);
  if (want !== undefined && r.value !== want) throw new Error(`expected ${want}, got ${r.value}`);
  return r.value;
}
