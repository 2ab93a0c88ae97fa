/** Descriptors printed the way grpcurl's describe prints them: close to .proto syntax. */
import {
  ScalarType,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
} from "@bufbuild/protobuf";

type Described = DescMessage | DescEnum | DescService | DescField | DescMethod | { kind: string; typeName?: string };

function typeOf(f: DescField): string {
  switch (f.fieldKind) {
    case "scalar":
      return ScalarType[f.scalar].toLowerCase();
    case "enum":
      return `.${f.enum.typeName}`;
    case "message":
      return `.${f.message.typeName}`;
    case "list":
      return `repeated ${f.listKind === "scalar" ? ScalarType[f.scalar].toLowerCase() : f.listKind === "enum" ? `.${f.enum.typeName}` : `.${f.message.typeName}`}`;
    case "map": {
      const v =
        f.mapKind === "scalar"
          ? ScalarType[f.scalar].toLowerCase()
          : f.mapKind === "enum"
            ? `.${f.enum.typeName}`
            : `.${f.message.typeName}`;
      return `map<${ScalarType[f.mapKey].toLowerCase()}, ${v}>`;
    }
  }
}

const field = (f: DescField): string => `  ${typeOf(f)} ${f.name} = ${f.number};`;
const method = (m: DescMethod): string => {
  const cs = m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming" ? "stream " : "";
  const ss = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming" ? "stream " : "";
  return `rpc ${m.name} ( ${cs}.${m.input.typeName} ) returns ( ${ss}.${m.output.typeName} );`;
};

export function describeDesc(d: Described): string {
  switch (d.kind) {
    case "service": {
      const s = d as DescService;
      return `${s.typeName} is a service:\nservice ${s.name} {\n${s.methods.map((m) => `  ${method(m)}`).join("\n")}\n}`;
    }
    case "message": {
      const m = d as DescMessage;
      const oneofs = m.oneofs.map(
        (o) => `  oneof ${o.name} {\n${o.fields.map((f) => `  ${field(f)}`).join("\n")}\n  }`,
      );
      const plain = m.fields.filter((f) => f.oneof === undefined).map(field);
      return `${m.typeName} is a message:\nmessage ${m.name} {\n${[...plain, ...oneofs].join("\n")}\n}`;
    }
    case "enum": {
      const e = d as DescEnum;
      return `${e.typeName} is an enum:\nenum ${e.name} {\n${e.values.map((v) => `  ${v.name} = ${v.number};`).join("\n")}\n}`;
    }
    case "rpc": {
      const m = d as DescMethod;
      return `${m.parent.typeName}.${m.name} is a method:\n${method(m)}`;
    }
    default:
      return `${(d as { typeName?: string }).typeName ?? "?"} is a ${d.kind}`;
  }
}
