/**
 * A real browser (headless Chromium) on a page of another origin calls ISLB through the
 * gateway with the Connect protocol in JSON, as a web app would with fetch: FindNode (a CORS
 * preflight first, for its custom header) and Watch (a server stream read from the response
 * body as it arrives). Skipped where no Chromium is installed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import type { Running } from "../../src/cli/serve.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { startAgent, startIslb } from "../helpers/islb.js";
import { startNatsServer, type NatsServerProcess } from "../helpers/nats-server.js";

const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].find(
  (b) => spawnSync(b, ["--version"], { stdio: "ignore" }).status === 0,
);

/** The page: FindNode, then Watch until the snapshot is complete; the results go into <pre id="out">. */
function page(gateway: string): string {
  return `<!doctype html><html><body><pre id="out">pending</pre><script>
const out = document.getElementById("out");
(async () => {
  const result = {};
  const r = await fetch("${gateway}/islb.ISLB/FindNode", { method: "POST", headers: { "content-type": "application/json", "x-app": "browser-test" }, body: JSON.stringify({ service: "rtc" }) });
  result.findStatus = r.status;
  result.nodes = (await r.json()).nodes.map((n) => n.nid);
  const w = await fetch("${gateway}/islb.ISLB/Watch", { method: "POST", headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" }, body: new Uint8Array([0, 0, 0, 0, 17, ...new TextEncoder().encode('{"service":"rtc"}')]) });
  result.watchType = w.headers.get("content-type");
  const reader = w.body.getReader();
  let buf = new Uint8Array(0);
  result.events = [];
  outer: for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf); next.set(value, buf.length); buf = next;
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (buf.length < 5 + len) break;
      const msg = JSON.parse(new TextDecoder().decode(buf.subarray(5, 5 + len)));
      buf = buf.subarray(5 + len);
      result.events.push(msg.type);
      if (msg.type === "TYPE_SYNCED") break outer;
    }
  }
  reader.cancel();
  out.textContent = JSON.stringify(result);
})().catch((e) => (out.textContent = "error: " + e));
</script></body></html>`;
}

describe(
  "gateway: a real browser calls ISLB",
  { skip: CHROMIUM === undefined ? "no Chromium installed" : false },
  () => {
    let ns: NatsServerProcess;
    let islb: Running;
    let gnc: NatsConnection;
    let gateway: Gateway;
    let web: Server;
    let agent: Awaited<ReturnType<typeof startAgent>>;
    let gatewayUrl = "";
    let pageUrl = "";
    before(async () => {
      ns = await startNatsServer();
      islb = await startIslb(ns.url);
      agent = await startAgent(ns.url, "sfu-1");
      web = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(page(gatewayUrl));
      });
      await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
      const origin = `http://localhost:${(web.address() as { port: number }).port}`;
      pageUrl = `${origin}/`;
      gnc = await connect({ servers: ns.url });
      gateway = createGateway(gnc, { corsOrigins: [origin] });
      gatewayUrl = `http://127.0.0.1:${(await gateway.listen(0, "127.0.0.1")).port}`;
    });
    after(async () => {
      await gateway?.close();
      web?.close();
      await gnc?.close();
      await agent?.agent.stop().catch(() => undefined);
      await agent?.nc.close();
      await islb?.close();
      await ns?.stop();
    });

    test("FindNode and Watch from a page of another origin (Connect, JSON, CORS)", async () => {
      const profile = mkdtempSync(join(tmpdir(), "islb-chromium-"));
      try {
        const child = spawn(
          CHROMIUM as string,
          [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            `--user-data-dir=${profile}`,
            "--virtual-time-budget=20000",
            "--dump-dom",
            pageUrl,
          ],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        let dom = "";
        child.stdout.on("data", (d: Buffer) => (dom += d.toString()));
        const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
        assert.equal(code, 0);
        const m = /<pre id="out">([^<]*)<\/pre>/.exec(dom);
        assert.ok(m !== null, `no result in the page: ${dom.slice(0, 500)}`);
        const result = JSON.parse((m[1] as string).replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as {
          findStatus: number;
          nodes: string[];
          watchType: string;
          events: string[];
        };
        assert.equal(result.findStatus, 200);
        assert.deepEqual(result.nodes, ["sfu-1"]);
        assert.equal(result.watchType, "application/connect+json");
        assert.deepEqual(result.events, ["TYPE_EXISTING", "TYPE_SYNCED"]);
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    });
  },
);
