/**
 * gRPC server reflection (v1 and v1alpha, the same wire) answered by the gateway for every
 * service it exposes: the services are those micro discovery lists on the bus, those the
 * bus's reflection lists, and the gateway's own; files and symbols are asked of the bus's
 * reflection (any instance, then each node that micro discovery names) and of the gateway's
 * own descriptors last. What the allow list hides is neither listed nor described.
 */
import type { NatsConnection } from "nats";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { ServerReflectionRequest, ServerReflectionResponse } from "../../generated/grpc/reflection/v1/reflection.js";
import { Metadata, Status } from "../index.js";
import type { DescriptorIndex } from "../reflection/descriptors.js";
import { Reflection } from "../reflection/reflection.js";
import { OWN_SERVICES, type Access } from "./access.js";
import type { LocalHandler } from "./bridge.js";
import { askReflection, filesOf, microInstances, type Instance } from "./bus-info.js";

/** How long one look at micro discovery is reused. */
const INSTANCES_MS = 2000;
/** Nodes asked one by one, at most (a bus of many instances is not asked a question each). */
const MAX_NODES = 16;

/**
 * The node ids micro discovery names, each once, at most MAX_NODES: first those serving a
 * service the symbol is or is in (when one is given).
 */
function nodeIds(instances: Instance[], symbol?: string): string[] {
  const serves = (i: Instance): boolean =>
    symbol !== undefined &&
    i.endpoints.some((e) => {
      const svc = e.path.split("/")[1] ?? "";
      return symbol === svc || symbol.startsWith(`${svc}.`);
    });
  const ordered = [...instances.filter(serves), ...instances.filter((i) => !serves(i))];
  return [...new Set(ordered.map((i) => i.id))].slice(0, MAX_NODES);
}

/** Reflection answered by the gateway for everything it exposes on the bus. */
export class GatewayReflection {
  private instances: { at: number; list: Promise<Instance[]> } | undefined;
  private readonly own: Reflection;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly access: Access,
    index: DescriptorIndex,
  ) {
    this.own = new Reflection(index, () => [...OWN_SERVICES]);
  }

  private bus(): Promise<Instance[]> {
    const now = Date.now();
    if (this.instances === undefined || now - this.instances.at > INSTANCES_MS)
      this.instances = { at: now, list: microInstances(this.nc) };
    return this.instances.list;
  }

  /** Every service exposed: on the bus (micro discovery and reflection) and the gateway's own. */
  async services(): Promise<string[]> {
    const names = new Set<string>(OWN_SERVICES);
    const instances = await this.bus();
    for (const i of instances) for (const e of i.endpoints) names.add(e.path.split("/")[1] ?? "");
    const asks = [undefined, ...nodeIds(instances)].map((nid) =>
      askReflection(this.nc, this.prefix, { listServices: "" }, nid, 1000).then(
        (r) => r.listServicesResponse?.service.map((s) => s.name) ?? [],
        () => [] as string[],
      ),
    );
    for (const list of await Promise.all(asks)) for (const n of list) names.add(n);
    names.delete("");
    return [...names].filter((n) => this.access.exposesService(n)).sort();
  }

  /** The answer to one reflection request. */
  async answer(req: ServerReflectionRequest): Promise<ServerReflectionResponse> {
    const base = { validHost: req.host, originalRequest: req };
    if (req.listServices !== undefined)
      return { ...base, listServicesResponse: { service: (await this.services()).map((name) => ({ name })) } };
    const r = await this.ask(req);
    const symbol = req.fileContainingSymbol;
    if (symbol !== undefined && this.hidden(symbol, r))
      return {
        ...base,
        errorResponse: { errorCode: Status.NOT_FOUND, errorMessage: `symbol ${JSON.stringify(symbol)} not found` },
      };
    return { ...r, ...base };
  }

  /** Asks the bus (any instance, then each node), then the gateway's own descriptors. */
  private async ask(req: ServerReflectionRequest): Promise<ServerReflectionResponse> {
    const question: Partial<ServerReflectionRequest> = { ...req, host: "" };
    let last: ServerReflectionResponse | undefined;
    for (const nid of [undefined, ...nodeIds(await this.bus(), req.fileContainingSymbol?.replace(/^\./, ""))]) {
      try {
        const r = await askReflection(this.nc, this.prefix, question, nid, 1000);
        if (r.errorResponse === undefined) return r;
        last = r;
      } catch {
        /* nobody answers reflection there */
      }
    }
    const own = this.own.answer(req);
    return own.errorResponse === undefined || last === undefined ? own : last;
  }

  /** True when the symbol is a service the gateway does not expose, or a method of one, as the answer's files say. */
  private hidden(symbol: string, r: ServerReflectionResponse): boolean {
    const s = symbol.replace(/^\./, "");
    for (const f of filesOf(r)) {
      for (const svc of f.service) {
        const full = f.package === "" ? svc.name : `${f.package}.${svc.name}`;
        if ((s === full || s.startsWith(`${full}.`)) && !this.access.exposesService(full)) return true;
      }
    }
    return false;
  }

  /** The files defining an exposed service and their dependencies ([] when nobody describes it). */
  async files(service: string): Promise<FileDescriptorProto[]> {
    const r = await this.answer({ host: "", fileContainingSymbol: service });
    return r.errorResponse === undefined ? filesOf(r) : [];
  }

  /** The ServerReflectionInfo handlers (v1 and v1alpha). */
  handlers(): Map<string, LocalHandler> {
    const handler: LocalHandler = async (call, requests, sink) => {
      sink.header(Metadata());
      for await (const bytes of requests) {
        let req: ServerReflectionRequest;
        try {
          req = ServerReflectionRequest.decode(bytes);
        } catch (e) {
          return sink.end(Status.INTERNAL, `cannot decode a reflection request: ${(e as Error).message}`, Metadata());
        }
        const wait = sink.message(ServerReflectionResponse.encode(await this.answer(req)).finish());
        if (wait !== undefined) await wait;
        if (call.signal.aborted) return;
      }
      sink.end(Status.OK, "", Metadata());
    };
    return new Map([
      ["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", handler],
      ["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", handler],
    ]);
  }
}
