/**
 * islb's own log: pino, as JSON lines (one object a line, for collectors) or pretty for people
 * (pino-pretty: coloured, one line an event), pretty by default when stdout is a terminal.
 */
import { pino, type Logger as Pino } from "pino";
import type { LogFormat } from "./config.js";

/** The levels `--log-level` takes. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Whether a format writes pretty lines here (auto: when stdout is a terminal). */
export function isPretty(format: LogFormat, stdoutIsTty = process.stdout.isTTY === true): boolean {
  return format === "pretty" || (format === "auto" && stdoutIsTty);
}

/** A logger at `level` in `format`, with `base` fields on every line. */
export function createLogger(level: string, format: LogFormat, base: Record<string, unknown> = {}): Pino {
  if (!isPretty(format)) return pino({ level, base });
  return pino(
    { level, base },
    pino.transport({
      target: "pino-pretty",
      options: { colorize: process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" },
    }),
  );
}
