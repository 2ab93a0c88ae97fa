/**
 * The logger the library writes to: pino's calling convention (`(fields, message)`), so a
 * pino logger plugs in as it is. The default writes nothing.
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
