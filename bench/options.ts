/** A benchmark's command-line options (`--name value`, `--flag`), read the same way by every benchmark. */
const args = process.argv.slice(2);

/** The value after `--name`, else `def`. */
export function option(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] as string) : def;
}

/** The number after `--name`, else `def`. */
export function numberOption(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** True when `--name` is given. */
export function flag(name: string): boolean {
  return args.includes(`--${name}`);
}
