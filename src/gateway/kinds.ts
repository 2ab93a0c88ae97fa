/**
 * Method kinds (unary or streaming) by path, learnt from the bus: a gRPC request does not say
 * which kind it is, and our wire carries unary calls in one NATS request (the fast path) but
 * streams in frames. A path not known yet is carried as a stream, which is right for every
 * kind; the first miss of a service asks micro discovery (all services at once, at most every
 * `refreshMs`) and that service's reflection (at most every `retryMs`) in the background.
 */
import type { Endpoint } from "./bus-info.js";

/** How the gateway carries a call: one NATS request, or frames. */
export type Kind = "unary" | "stream";

/** Where kinds come from. */
export interface KindSources {
  /** Every endpoint micro discovery lists now. */
  micro(): Promise<Endpoint[]>;
  /** The methods of one service, from reflection ([] when unknown). */
  reflect(service: string): Promise<Endpoint[]>;
}

const MAX_TRIED = 1024;

/** The kind of each method path, as the bus describes it; bounded, and learnt in the background. */
export class MethodKinds {
  private readonly kinds = new Map<string, Kind>();
  private lastRefresh = -Infinity;
  private refreshing: Promise<void> | undefined;
  /** Services whose reflection was asked, and when (bounded: names come from clients). */
  private readonly tried = new Map<string, number>();

  constructor(
    private readonly sources: KindSources,
    private readonly refreshMs = 5000,
    private readonly retryMs = 30_000,
  ) {}

  /** The kind of a path, or undefined (then carry it as a stream); a miss starts a look-up. */
  get(path: string, service: string): Kind | undefined {
    const k = this.kinds.get(path);
    if (k === undefined) this.learn(service);
    return k;
  }

  /** Records a kind (from a source, or from a protocol whose requests say it). */
  set(path: string, kind: Kind): void {
    if (!this.kinds.has(path) && this.kinds.size >= 65_536) return;
    this.kinds.set(path, kind);
  }

  /** Lists micro discovery's endpoints again (at most one look-up at a time). */
  refresh(): Promise<void> {
    if (this.refreshing !== undefined) return this.refreshing;
    this.lastRefresh = Date.now();
    this.refreshing = this.sources
      .micro()
      .then((eps) => this.add(eps))
      .catch(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private add(endpoints: Endpoint[]): void {
    for (const e of endpoints) this.set(e.path, e.kind === "unary" ? "unary" : "stream");
  }

  private learn(service: string): void {
    const now = Date.now();
    if (now - this.lastRefresh >= this.refreshMs) void this.refresh();
    const last = this.tried.get(service);
    if (last !== undefined && now - last < this.retryMs) return;
    if (last === undefined && this.tried.size >= MAX_TRIED) {
      const oldest = this.tried.keys().next();
      if (oldest.done !== true) this.tried.delete(oldest.value);
    }
    this.tried.delete(service);
    this.tried.set(service, now);
    this.sources.reflect(service).then(
      (eps) => this.add(eps),
      () => undefined,
    );
  }
}
