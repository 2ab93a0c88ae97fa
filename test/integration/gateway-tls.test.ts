/**
 * The gateway over TLS: gRPC on h2 and Connect on HTTP/1.1 by ALPN on one port, and with a
 * client CA, mutual TLS: a client without a certificate that CA signed gets nowhere.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Gateway } from "../../src/gateway/server.js";
import { isGrpcStatus, startGateway, testClients, unary, type GatewayEnv } from "./gateway-env.js";

interface Pki {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(dir: string): Pki {
  const ssl = (...a: string[]): void => void execFileSync("openssl", a, { cwd: dir, stdio: "ignore" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=islb test CA",
  );
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  ssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "server.ext",
  );
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=client");
  ssl(
    "x509",
    "-req",
    "-in",
    "client.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "client.pem",
    "-days",
    "1",
  );
  const r = (f: string): Buffer => readFileSync(join(dir, f));
  return {
    ca: r("ca.pem"),
    cert: r("server.pem"),
    key: r("server.key"),
    clientCert: r("client.pem"),
    clientKey: r("client.key"),
  };
}

describe("gateway over TLS", () => {
  let g: GatewayEnv;
  let dir: string;
  let pki: Pki;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "islb-gw-tls-"));
    pki = makePki(dir);
    g = await startGateway({ micro: true });
  });
  after(async () => {
    await g.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("gRPC over h2 and Connect over HTTP/1.1 on one TLS port", async () => {
    const gw = new Gateway(g.gnc, { tls: { cert: pki.cert, key: pki.key } });
    const a = await gw.listen(0, "127.0.0.1");
    const { test: c } = testClients(`127.0.0.1:${a.port}`, grpc.credentials.createSsl(pki.ca));
    const md = new grpc.Metadata();
    md.set("islb-nid", "t1");
    assert.deepEqual((await unary(c, "emptyCall", {}, md)).value, {});
    c.close();
    // Connect unary over HTTP/1.1 (ALPN http/1.1): EmptyCall takes and gives the empty message.
    const status = await new Promise<{ code: number; type: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: a.port,
          path: "/grpc.testing.TestService/EmptyCall",
          method: "POST",
          ca: pki.ca,
          headers: { "content-type": "application/proto", "islb-nid": "t1" },
        },
        (res) => {
          res.resume();
          resolve({ code: res.statusCode ?? 0, type: String(res.headers["content-type"]) });
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.deepEqual(status, { code: 200, type: "application/proto" });
    await gw.close();
  });

  test("mTLS: a client certificate signed by the CA is required", async () => {
    const gw = new Gateway(g.gnc, { tls: { cert: pki.cert, key: pki.key, ca: pki.ca } });
    const a = await gw.listen(0, "127.0.0.1");
    const md = new grpc.Metadata();
    md.set("islb-nid", "t1");
    const without = testClients(`127.0.0.1:${a.port}`, grpc.credentials.createSsl(pki.ca)).test;
    await assert.rejects(
      unary(without, "emptyCall", {}, md, { deadline: new Date(Date.now() + 3000) }),
      isGrpcStatus(grpc.status.UNAVAILABLE),
    );
    without.close();
    const withCert = testClients(
      `127.0.0.1:${a.port}`,
      grpc.credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert),
    ).test;
    assert.deepEqual((await unary(withCert, "emptyCall", {}, md)).value, {});
    withCert.close();
    await gw.close();
  });
});
