/**
 * NATS clusters for tests: N nats-servers joined by routes (a cluster), clusters joined by
 * gateways (a supercluster), and leaf nodes, each server a process this test started on free
 * loopback ports, with its monitoring port used to wait until the routes, gateways and leaf
 * connections are up. The servers run the sample configurations of docs/topologies/, with the
 * values they read from the environment filled in.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startNatsServer, type NatsServerProcess } from "./nats-server.js";

export interface ClusterServer extends NatsServerProcess {
  readonly name: string;
  readonly monitorPort: number;
}

export interface NatsCluster {
  readonly name: string;
  readonly servers: ClusterServer[];
  /** Every server's client URL, comma-separated (what `--nats` takes). */
  readonly urls: string;
  stop(): Promise<void>;
}

function monitor(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (e) {
          reject(e);
        }
      });
    }).on("error", reject);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not ready after ${ms} ms`);
}

interface GatewaySpec {
  /** This cluster's gateway port. */
  port: number;
  /** Every cluster of the supercluster: name and gateway port (this one included). */
  all: Array<{ name: string; port: number }>;
}

const TOPOLOGIES = new URL("../../../docs/topologies/", import.meta.url);

/** A sample configuration of docs/topologies/ with its `$VARIABLES` given values (as nats-server takes them from the environment). */
function topology(file: string, vars: Record<string, string>): string {
  const fill = (line: string): string =>
    line.trimStart().startsWith("#")
      ? line
      : line.replace(/\$([A-Z][A-Z0-9_]*)/g, (_, name: string) => {
          const v = vars[name];
          if (v === undefined) throw new Error(`docs/topologies/${file} needs ${name}`);
          return JSON.stringify(v);
        });
  return readFileSync(new URL(file, TOPOLOGIES), "utf8").split("\n").map(fill).join("\n");
}

/**
 * Starts a cluster of `n` (at most 3, as the sample lists three routes) servers named
 * `<name>-1..n` (JetStream on), joined by routes; with `gateway`, its first server also joins a
 * supercluster; with `leafPort`, its first server takes leaf connections there.
 */
export async function startNatsCluster(
  name: string,
  n = 3,
  gateway?: GatewaySpec,
  leafPort?: number,
): Promise<NatsCluster> {
  const clusterPorts = await Promise.all(Array.from({ length: 3 }, () => freePort()));
  const dir = mkdtempSync(join(tmpdir(), "islb-cluster-"));
  const servers: ClusterServer[] = [];
  for (let i = 0; i < n; i++) {
    const serverName = `${name}-${i + 1}`;
    const monitorPort = await freePort();
    const vars: Record<string, string> = {
      SERVER_NAME: serverName,
      CLUSTER_NAME: name,
      CLUSTER_LISTEN: `127.0.0.1:${clusterPorts[i]}`,
      // Routes to servers that never start are retried quietly; a cluster of fewer than three uses the first ones.
      ROUTE_1: `nats-route://127.0.0.1:${clusterPorts[0]}`,
      ROUTE_2: `nats-route://127.0.0.1:${clusterPorts[n > 1 ? 1 : 0]}`,
      ROUTE_3: `nats-route://127.0.0.1:${clusterPorts[n > 2 ? 2 : 0]}`,
    };
    let file = "cluster.conf";
    if (gateway !== undefined && i === 0) {
      file = "supercluster.conf";
      const [ga, gb] = gateway.all as [{ name: string; port: number }, { name: string; port: number }];
      Object.assign(vars, {
        GATEWAY_NAME: name,
        GATEWAY_LISTEN: `127.0.0.1:${gateway.port}`,
        GATEWAY_A: ga.name,
        GATEWAY_A_URL: `nats://127.0.0.1:${ga.port}`,
        GATEWAY_B: gb.name,
        GATEWAY_B_URL: `nats://127.0.0.1:${gb.port}`,
      });
    } else if (leafPort !== undefined && i === 0) {
      file = "hub.conf";
      vars.LEAF_LISTEN = `127.0.0.1:${leafPort}`;
    }
    const conf = join(dir, `${serverName}.conf`);
    writeFileSync(conf, topology(file, vars));
    const s = await startNatsServer({ args: ["-c", conf, "-m", String(monitorPort)] });
    servers.push(Object.assign(s, { name: serverName, monitorPort }));
  }
  await Promise.all(
    servers.map((s) =>
      until(`routes of ${s.name}`, async () => Number((await monitor(s.monitorPort, "/routez")).num_routes) >= n - 1),
    ),
  );
  return {
    name,
    servers,
    urls: servers.map((s) => s.url).join(","),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A leaf node server connected to the hub's leaf port, up once the leaf connection is. */
export async function startLeaf(
  name: string,
  hubLeafPort: number,
): Promise<ClusterServer & { close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "islb-leaf-"));
  const conf = join(dir, "leaf.conf");
  writeFileSync(conf, topology("leaf.conf", { SERVER_NAME: name, HUB_URL: `nats-leaf://127.0.0.1:${hubLeafPort}` }));
  const monitorPort = await freePort();
  const s = await startNatsServer({ args: ["-c", conf, "-m", String(monitorPort)] });
  await until(`leaf ${name}`, async () => Number((await monitor(monitorPort, "/leafz")).leafnodes) >= 1);
  return Object.assign(s, {
    name,
    monitorPort,
    async close() {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Two or more clusters joined by gateways; resolves once every gateway connection is up. */
export async function startSupercluster(names: string[], serversEach = 1): Promise<NatsCluster[]> {
  const all = await Promise.all(names.map(async (name) => ({ name, port: await freePort() })));
  const clusters: NatsCluster[] = [];
  for (const g of all) clusters.push(await startNatsCluster(g.name, serversEach, { port: g.port, all }));
  await Promise.all(
    clusters.map((c) =>
      until(`gateways of ${c.name}`, async () => {
        const gz = await monitor((c.servers[0] as ClusterServer).monitorPort, "/gatewayz");
        const out = (gz.outbound_gateways ?? {}) as Record<string, unknown>;
        const inb = (gz.inbound_gateways ?? {}) as Record<string, unknown>;
        return Object.keys(out).length >= names.length - 1 && Object.keys(inb).length >= names.length - 1;
      }),
    ),
  );
  return clusters;
}
