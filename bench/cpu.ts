/** CPU time of a process from /proc/<pid>/stat (user + system), in microseconds. */
import { readFileSync } from "node:fs";

const TICK_US = 10_000; // USER_HZ is 100 on Linux

export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}
