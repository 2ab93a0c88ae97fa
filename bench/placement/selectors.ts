/**
 * The selectors the simulation compares, behind one small interface: islb's balancer (fed
 * through a RegistryView, as the service feeds it), and LiveKit's selector as its docs and
 * code describe it (pkg/routing/selector: nodes whose stats are fresh and SERVING, those
 * under the CPU limit, or all of them when none is, in the caller's region when it has any;
 * then the lowest by the sort measure, or the lesser of two random ones with "twochoice").
 * LiveKit's selector knows only what the last stats update said and checks no hard limit
 * (the node refuses participants itself once over its own limits).
 */
import { Balancer } from "../../src/balancer/balancer.js";
import { toRecord } from "../../src/registry/records.js";
import { NodeState, type NodeRecord, type RegistryEvent } from "../../src/registry/types.js";
import { RegistryView } from "../../src/registry/view.js";
import type { SimNode } from "./scenario.js";

/** What a node reports in a heartbeat (its CPU, sessions and participants then). */
export interface Report {
  readonly cpu: number;
  readonly sessions: number;
  readonly participants: number;
}

/** A selector as the simulation drives it. */
export interface Selector {
  readonly name: string;
  /** A node came up (or back) and reported. */
  up(node: SimNode, report: Report): void;
  /** A heartbeat: the node's figures now. */
  report(node: SimNode, report: Report): void;
  /** The node died. */
  down(node: SimNode): void;
  /** The node starts (true) or stops (false) draining. */
  drain(node: SimNode, draining: boolean, report: Report): void;
  /** The node for a new session from a caller in `region`, or undefined when none takes it. */
  pick(region: string): string | undefined;
}

const zero = { cpu: 0, sessions: 0, tracks: 0, bandwidthIn: 0, bandwidthOut: 0 };
const SERVICE = "rtc";

/** islb's balancer, with soft and hard CPU limits on every node and the chosen options. */
export class IslbSelector implements Selector {
  private readonly view = new RegistryView({ changes: 1 });
  private readonly balancer: Balancer;
  private revision = 0;

  constructor(
    readonly name: string,
    private readonly softCpu: number,
    private readonly hardCpu: number,
    twoChoices: boolean,
    random: () => number,
  ) {
    this.balancer = new Balancer(this.view, { measure: "cpu", twoChoices, random });
  }

  private record(node: SimNode, r: Report, state: NodeState): NodeRecord {
    return toRecord(
      {
        node: { dc: node.region, nid: node.nid, service: SERVICE, rpc: undefined },
        state,
        region: node.region,
        load: { ...zero, cpu: r.cpu, sessions: r.sessions, tracks: r.participants },
        softLimits: { ...zero, cpu: this.softCpu },
        hardLimits: { ...zero, cpu: this.hardCpu },
      },
      6000,
      0,
    );
  }

  private apply(type: RegistryEvent["type"], record: NodeRecord): void {
    this.view.apply({ type, revision: ++this.revision, record });
  }

  up(node: SimNode, r: Report): void {
    this.apply("up", this.record(node, r, NodeState.NODE_STATE_SERVING));
  }

  report(node: SimNode, r: Report): void {
    const cur = this.view.get(node.nid);
    if (cur !== undefined) this.apply("updated", this.record(node, r, cur.state));
  }

  down(node: SimNode): void {
    const cur = this.view.get(node.nid);
    if (cur !== undefined) this.apply("down", cur);
  }

  drain(node: SimNode, draining: boolean, r: Report): void {
    this.apply(
      draining ? "draining" : "updated",
      this.record(node, r, draining ? NodeState.NODE_STATE_DRAINING : NodeState.NODE_STATE_SERVING),
    );
  }

  pick(region: string): string | undefined {
    const nid = this.balancer.pick(SERVICE, { region });
    if (nid !== undefined) this.balancer.notePlaced(nid);
    return nid;
  }
}

interface LkNode {
  readonly node: SimNode;
  cpu: number;
  serving: boolean;
}

/** LiveKit's CPU-load selector (sortBy "cpuload"), region-aware, "lowest" or "twochoice". */
export class LiveKitSelector implements Selector {
  private readonly nodes = new Map<string, LkNode>();

  constructor(
    readonly name: string,
    private readonly cpuLimit: number,
    private readonly twoChoice: boolean,
    private readonly random: () => number,
  ) {}

  up(node: SimNode, r: Report): void {
    this.nodes.set(node.nid, { node, cpu: r.cpu, serving: true });
  }

  report(node: SimNode, r: Report): void {
    const n = this.nodes.get(node.nid);
    if (n !== undefined) n.cpu = r.cpu;
  }

  down(node: SimNode): void {
    this.nodes.delete(node.nid);
  }

  drain(node: SimNode, draining: boolean, r: Report): void {
    const n = this.nodes.get(node.nid);
    if (n === undefined) return;
    n.serving = !draining;
    n.cpu = r.cpu;
  }

  pick(region: string): string | undefined {
    const available: LkNode[] = [];
    for (const n of this.nodes.values()) if (n.serving) available.push(n);
    if (available.length === 0) return undefined;
    // As RegionAwareSelector: the load filter first (all nodes when none is under), then the
    // nearest region among what is left.
    const under = available.filter((n) => n.cpu < this.cpuLimit);
    const pool = under.length > 0 ? under : available;
    const local = pool.filter((n) => n.node.region === region);
    const candidates = local.length > 0 ? local : pool;
    if (this.twoChoice && candidates.length > 1) {
      const a = candidates[Math.floor(this.random() * candidates.length)] as LkNode;
      const b = candidates[Math.floor(this.random() * candidates.length)] as LkNode;
      return (b.cpu < a.cpu ? b : a).node.nid;
    }
    let best = candidates[0] as LkNode;
    for (const n of candidates) if (n.cpu < best.cpu) best = n;
    return best.node.nid;
  }
}
