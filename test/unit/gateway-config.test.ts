import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadGatewayConfig } from "../../src/cli/gateway-config.js";
import { prepareGateway } from "../../src/cli/gateway.js";

test("gateway config: compress_min_bytes from the file, --compress-min-bytes over it; non-integers refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "gw-config-"));
  try {
    const file = join(dir, "islb.toml");
    writeFileSync(file, "[gateway]\ncompress_min_bytes = 2048\n");
    assert.equal(loadGatewayConfig({ config: file }, {}).compressMinBytes, 2048);
    assert.equal(prepareGateway(loadGatewayConfig({ config: file }, {})).options.compressMinBytes, 2048);
    assert.equal(loadGatewayConfig({ config: file, compressMinBytes: "-1" }, {}).compressMinBytes, -1);
    assert.equal(loadGatewayConfig({}, {}).compressMinBytes, undefined);
    assert.throws(() => loadGatewayConfig({ compressMinBytes: "1k" }, {}), /--compress-min-bytes must be an integer/);
    writeFileSync(file, '[gateway]\ncompress_min_bytes = "big"\n');
    assert.throws(() => loadGatewayConfig({ config: file }, {}), /compress_min_bytes must be an integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
