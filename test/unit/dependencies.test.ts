/** Dependencies the design pins for safety. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);

function atLeast(version: string, floor: string): boolean {
  const a = version.split(".").map(Number);
  const b = floor.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

test("protobufjs is past its known advisories (≥ 7.5.6 on 7.x, ≥ 8.0.2 on 8.x), wherever it is installed", () => {
  const paths = [
    require.resolve("protobufjs/package.json"),
    require.resolve("protobufjs/package.json", { paths: [require.resolve("@grpc/proto-loader")] }),
  ];
  for (const p of paths) {
    const { version } = JSON.parse(readFileSync(p, "utf8")) as { version: string };
    const floor = version.startsWith("7.") ? "7.5.6" : "8.0.2";
    assert.ok(atLeast(version, floor), `${p}: protobufjs ${version} < ${floor}`);
  }
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    overrides?: Record<string, string>;
  };
  const deps = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    dependencies: Record<string, string>;
  };
  assert.equal(pkg.overrides?.protobufjs, "$protobufjs", "an npm override holds every dependent to our own pin");
  assert.match(deps.dependencies.protobufjs ?? "", /^\^7\.(5\.([6-9]|\d\d)|([6-9]|\d\d)\.)/, "our pin is ≥ 7.5.6");
});
