/** Between nats-discovery's Go values (decoded gob) and the registry's records. */
import type { ExtraValue } from "../../generated/islb/islb.js";
import type { Node } from "../../generated/ion/ion.js";
import { GobError, struct, type GoAny, type GoStruct } from "../gob/types.js";
import type { NodeRecord } from "../registry/types.js";

/** A discovery.Node as it arrived. */
export interface GoNode {
  dc: string;
  service: string;
  nid: string;
  rpc: { protocol: string; addr: string; params: Map<string, string> };
  extraInfo: Map<string, GoAny | null>;
}

/** A discovery.Request as it arrived. */
export interface GoRequest {
  action: string;
  node: GoNode;
  service: string;
  params: Map<string, GoAny | null>;
}

const str = (o: GoStruct, k: string): string => {
  const v = o[k];
  if (typeof v !== "string") throw new GobError(`${k} is not a string`);
  return v;
};
const obj = (o: GoStruct, k: string): GoStruct => {
  const v = o[k];
  if (v === null || typeof v !== "object" || v instanceof Map || Array.isArray(v))
    throw new GobError(`${k} is not a struct`);
  return v as GoStruct;
};
function map<V>(o: GoStruct, k: string, check: (v: unknown) => V): Map<string, V> {
  const v = o[k];
  if (v === null || v === undefined) return new Map();
  if (!(v instanceof Map)) throw new GobError(`${k} is not a map`);
  const out = new Map<string, V>();
  for (const [key, val] of v) {
    if (typeof key !== "string") throw new GobError(`${k} has a key that is not a string`);
    out.set(key, check(val));
  }
  return out;
}
const anyValue = (v: unknown): GoAny | null => {
  if (v === null) return null;
  if (typeof v === "object" && v !== null && "type" in v && "value" in v) return v as GoAny;
  throw new GobError("a value of an interface map is not an interface");
};
const strValue = (v: unknown): string => {
  if (typeof v !== "string") throw new GobError("a value of a string map is not a string");
  return v;
};

function goNode(o: GoStruct): GoNode {
  const rpc = obj(o, "RPC");
  return {
    dc: str(o, "DC"),
    service: str(o, "Service"),
    nid: str(o, "NID"),
    rpc: { protocol: str(rpc, "Protocol"), addr: str(rpc, "Addr"), params: map(rpc, "Params", strValue) },
    extraInfo: map(o, "ExtraInfo", anyValue),
  };
}

/** Checks a decoded value is a discovery.Request (field types included). */
export function asRequest(v: unknown): GoRequest {
  if (v === null || typeof v !== "object" || v instanceof Map || Array.isArray(v))
    throw new GobError("the message is not a struct");
  const o = v as GoStruct;
  return {
    action: str(o, "Action"),
    node: goNode(obj(o, "Node")),
    service: str(o, "Service"),
    params: map(o, "Params", anyValue),
  };
}

/** A param of a get ("nid", "sid") as a string, or "". */
export function param(req: GoRequest, key: string): string {
  const v = req.params.get(key);
  return v !== null && v !== undefined && typeof v.value === "string" ? v.value : "";
}

const INTS = new Set(["int", "int8", "int16", "int32", "int64"]);
const UINTS = new Set(["uint", "uint8", "uint16", "uint32", "uint64", "uintptr"]);

/** ExtraInfo to the registry's typed map; values of other Go types (slices, maps, structs) are left out. */
export function extraFromGo(extra: Map<string, GoAny | null>): { kept: Map<string, ExtraValue>; dropped: string[] } {
  const kept = new Map<string, ExtraValue>();
  const dropped: string[] = [];
  for (const [k, a] of extra) {
    if (a === null) continue;
    const base: ExtraValue = {
      goType: a.type,
      stringValue: undefined,
      intValue: undefined,
      uintValue: undefined,
      floatValue: undefined,
      boolValue: undefined,
    };
    if (a.type === "string" && typeof a.value === "string") kept.set(k, { ...base, stringValue: a.value });
    else if (INTS.has(a.type)) kept.set(k, { ...base, intValue: Number(a.value) });
    else if (UINTS.has(a.type)) kept.set(k, { ...base, uintValue: Number(a.value) });
    else if ((a.type === "float64" || a.type === "float32") && typeof a.value === "number")
      kept.set(k, { ...base, floatValue: a.value });
    else if (a.type === "bool" && typeof a.value === "boolean") kept.set(k, { ...base, boolValue: a.value });
    else dropped.push(k);
  }
  return { kept, dropped };
}

/** The registry's typed map back to ExtraInfo, each value with its Go type. */
export function extraToGo(extra: ReadonlyMap<string, ExtraValue>): Map<string, GoAny> {
  const out = new Map<string, GoAny>();
  for (const [k, v] of extra) {
    if (v.stringValue !== undefined) out.set(k, { type: v.goType || "string", value: v.stringValue });
    else if (v.intValue !== undefined) out.set(k, { type: v.goType || "int", value: v.intValue });
    else if (v.uintValue !== undefined) out.set(k, { type: v.goType || "uint", value: v.uintValue });
    else if (v.floatValue !== undefined) out.set(k, { type: v.goType || "float64", value: v.floatValue });
    else if (v.boolValue !== undefined) out.set(k, { type: v.goType || "bool", value: v.boolValue });
  }
  return out;
}

/** The ion.Node our registry keeps for a Go node. */
export function ionNode(n: GoNode): Node {
  return {
    dc: n.dc,
    nid: n.nid,
    service: n.service,
    rpc: { protocol: n.rpc.protocol, addr: n.rpc.addr, params: n.rpc.params },
  };
}

/** A record as a discovery.Node value for the encoder. */
export function goValue(r: NodeRecord): GoStruct {
  const rpc = r.node.rpc;
  return struct([
    ["DC", r.node.dc],
    ["Service", r.node.service],
    ["NID", r.node.nid],
    [
      "RPC",
      struct([
        ["Protocol", rpc?.protocol ?? ""],
        ["Addr", rpc?.addr ?? ""],
        ["Params", rpc?.params ?? new Map()],
      ]),
    ],
    ["ExtraInfo", extraToGo(r.extra)],
  ]);
}
