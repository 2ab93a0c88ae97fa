/**
 * The logger the library writes to: pino's calling convention (`(fields, message)`), so a
 * pino logger plugs in as it is. By default a server writes warnings and errors (a handler
 * that threw something unexpected, a frame it could not send) to stderr, one line each, and
 * nothing else; pass `silentLogger` to drop them, or your own logger.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const noop = (): void => {};

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** A field value as one line of text (errors by their stack, or name and message). */
function fieldText(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.stack ?? `${v.name}: ${v.message}`);
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** One log line: time, level, message, then the fields as key=value. */
export function formatLine(level: string, fields: object, message: string): string {
  let line = `${new Date().toISOString()} ${level} ${message}`;
  for (const [k, v] of Object.entries(fields)) line += ` ${k}=${fieldText(v)}`;
  return `${line}\n`;
}

/** Warnings and errors to `write` (stderr by default), one line each; debug and info dropped. */
export function stderrLogger(write: (line: string) => void = (line) => void process.stderr.write(line)): Logger {
  return {
    debug: noop,
    info: noop,
    warn: (fields, message) => write(formatLine("WARN", fields, message)),
    error: (fields, message) => write(formatLine("ERROR", fields, message)),
  };
}

/** The default logger of servers: warnings and errors to stderr. */
export const defaultLogger: Logger = stderrLogger();
