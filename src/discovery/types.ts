/** The Go types of nats-discovery (ion's node registry protocol), for the gob codec. */
import { BOOL, INTERFACE, STRING, type GoType } from "../gob/types.js";

export const MAP_STRING_STRING: GoType = { kind: "map", name: "map[string]string", key: STRING, elem: STRING };
export const MAP_STRING_ANY: GoType = { kind: "map", name: "map[string]interface {}", key: STRING, elem: INTERFACE };

export const RPC: GoType = {
  kind: "struct",
  name: "RPC",
  fields: [
    { name: "Protocol", type: STRING },
    { name: "Addr", type: STRING },
    { name: "Params", type: MAP_STRING_STRING },
  ],
};

export const NODE: GoType = {
  kind: "struct",
  name: "Node",
  fields: [
    { name: "DC", type: STRING },
    { name: "Service", type: STRING },
    { name: "NID", type: STRING },
    { name: "RPC", type: RPC },
    { name: "ExtraInfo", type: MAP_STRING_ANY },
  ],
};

export const REQUEST: GoType = {
  kind: "struct",
  name: "Request",
  fields: [
    { name: "Action", type: STRING },
    { name: "Node", type: NODE },
    { name: "Service", type: STRING },
    { name: "Params", type: MAP_STRING_ANY },
  ],
};

export const RESPONSE: GoType = {
  kind: "struct",
  name: "Response",
  fields: [
    { name: "Success", type: BOOL },
    { name: "Reason", type: STRING },
  ],
};

export const NODES: GoType = { kind: "slice", name: "[]discovery.Node", elem: NODE };

export const GET_RESPONSE: GoType = { kind: "struct", name: "GetResponse", fields: [{ name: "Nodes", type: NODES }] };

/** The Go types by the name captures and tools use. */
export const DISCOVERY_TYPES: Record<string, GoType> = {
  "discovery.Request": REQUEST,
  "discovery.Response": RESPONSE,
  "discovery.GetResponse": GET_RESPONSE,
  "discovery.Node": NODE,
  "discovery.RPC": RPC,
};
