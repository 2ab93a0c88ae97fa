/**
 * Packs islb as `npm pack` does and installs the tarball into a fresh project with no network:
 * the project's package-lock.json is made from islb's own (the same versions `npm ci` put in
 * the local npm cache), so `npm ci --offline` finds every tarball there.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

/** What `npm pack` made. */
export interface Packed {
  /** The tarball's path. */
  file: string;
  /** Its size in bytes (compressed). */
  size: number;
  /** Unpacked size in bytes. */
  unpackedSize: number;
  /** The paths it holds, relative to the package root. */
  files: string[];
}

/** `npm pack` of the package at `root` into `dest` (scripts skipped: `make build` built dist/). */
export function packIslb(root: string, dest: string): Packed {
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dest], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const info = (
    JSON.parse(out) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> }>
  )[0];
  return {
    file: join(dest, info.filename),
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path),
  };
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** Where node's resolution finds `name` from the package at `from` in a lockfile's layout. */
function locate(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const at = `${base === "" ? "" : `${base}/`}node_modules/${name}`;
    if (packages[at] !== undefined) return at;
    if (base === "") return undefined;
    const i = base.lastIndexOf("/node_modules/");
    base = i < 0 ? "" : base.slice(0, i);
  }
}

/**
 * Writes package.json and package-lock.json for a project depending on islb (the tarball
 * `source`, or a `git+file://…#commit` URL) and on `extra` packages (names; versions as
 * islb's lockfile has them), then `npm ci --offline`.
 */
export function installOffline(dir: string, source: string, root: string, extra: string[]): void {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const islbPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    name: string;
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const git = source.startsWith("git+");
  const spec = git ? source : `file:${basename(source)}`;
  const deps: Record<string, string> = { [islbPkg.name]: spec };
  for (const name of extra) {
    const v = lock.packages[`node_modules/${name}`]?.version;
    if (v === undefined) throw new Error(`${name} is not in islb's package-lock.json`);
    deps[name] = v;
  }
  const packages: Record<string, LockEntry> = {
    "": { name: "app", version: "1.0.0", dependencies: deps },
    [`node_modules/${islbPkg.name}`]: {
      version: islbPkg.version,
      resolved: spec,
      ...(git ? {} : { integrity: `sha512-${createHash("sha512").update(readFileSync(source)).digest("base64")}` }),
      dependencies: islbPkg.dependencies,
      bin: islbPkg.bin,
      engines: islbPkg.engines,
    },
  };
  const self = `node_modules/${islbPkg.name}`;
  const queue: Array<[string, string]> = [
    ...extra.map((n): [string, string] => ["", n]),
    ...Object.keys(islbPkg.dependencies).map((n): [string, string] => [self, n]),
  ];
  while (queue.length > 0) {
    const [from, name] = queue.shift() as [string, string];
    const at = locate(lock.packages, from, name);
    if (at === undefined || packages[at] !== undefined) continue; // done already, or an optional dependency of another platform
    const entry: LockEntry = { ...lock.packages[at] };
    delete entry.dev;
    delete entry.devOptional;
    delete entry.peer;
    packages[at] = entry;
    for (const n of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies }))
      queue.push([at, n]);
  }
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module", dependencies: deps }, null, 2)}\n`,
  );
  writeFileSync(
    join(dir, "package-lock.json"),
    `${JSON.stringify({ name: "app", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
  execFileSync("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
}
