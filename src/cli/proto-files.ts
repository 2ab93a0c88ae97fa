/**
 * .proto files for `--proto`: parsed with protobufjs (we ship no protoc), then turned into
 * descriptors, so `--proto` decodes and prints exactly as the reflection mode does (strict
 * proto3 JSON through @bufbuild, describe in .proto syntax).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import protobuf from "protobufjs";
import { create, createFileRegistry, type FileRegistry, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Edition,
  FeatureSet_EnumType as EnumType,
  FeatureSet_FieldPresence as Presence,
  FeatureSet_MessageEncoding as MessageEncoding,
  FeatureSet_RepeatedFieldEncoding as Repeated,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as T,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProtoSchema,
  type EnumDescriptorProtoSchema,
  type FieldDescriptorProtoSchema,
  type FileDescriptorProto,
  type ServiceDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

type MessageInit = MessageInitShape<typeof DescriptorProtoSchema>;
type EnumInit = MessageInitShape<typeof EnumDescriptorProtoSchema>;
type FieldInit = MessageInitShape<typeof FieldDescriptorProtoSchema>;
type ServiceInit = MessageInitShape<typeof ServiceDescriptorProtoSchema>;

const SCALARS: Record<string, T> = {
  double: T.DOUBLE,
  float: T.FLOAT,
  int64: T.INT64,
  uint64: T.UINT64,
  int32: T.INT32,
  fixed64: T.FIXED64,
  fixed32: T.FIXED32,
  bool: T.BOOL,
  string: T.STRING,
  bytes: T.BYTES,
  uint32: T.UINT32,
  sfixed32: T.SFIXED32,
  sfixed64: T.SFIXED64,
  sint32: T.SINT32,
  sint64: T.SINT64,
};

/** Resolved editions features protobufjs keeps on each object (not in its typings). */
type Features = Record<string, string | undefined>;
const featuresOf = (o: protobuf.ReflectionObject): Features =>
  (o as unknown as { _features?: Features })._features ?? {};
const editionOf = (o: protobuf.ReflectionObject): string | null =>
  (o as unknown as { _edition: string | null })._edition;

/** protoc's json_name: snake_case to lowerCamelCase. */
function jsonName(name: string): string {
  return name.replace(/_+([a-z0-9]?)/gi, (_, c: string) => c.toUpperCase());
}

/** protoc's map entry name: `extra_info` → `ExtraInfoEntry`. */
function entryName(field: string): string {
  const camel = jsonName(field);
  return `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
}

/** Converts one file's worth of protobufjs objects, noting the types they refer to. */
class FileBuilder {
  readonly refs = new Set<protobuf.ReflectionObject>();
  constructor(private readonly editions: boolean) {}

  private typeOf(f: protobuf.Field, type: string, resolved: protobuf.ReflectionObject | null): FieldInit {
    if (resolved === null) {
      const scalar = SCALARS[type];
      if (scalar === undefined) throw new Error(`field ${f.fullName} has the unknown type ${type}`);
      return { type: scalar };
    }
    this.refs.add(resolved);
    const kind = resolved instanceof protobuf.Enum ? T.ENUM : f.delimited && !this.editions ? T.GROUP : T.MESSAGE;
    return { type: kind, typeName: resolved.fullName };
  }

  private field(f: protobuf.Field, oneofIndex: number | undefined, syntax: string): FieldInit {
    const d: FieldInit = {
      name: f.name,
      number: f.id,
      jsonName: typeof f.options?.json_name === "string" ? f.options.json_name : jsonName(f.name),
      label: f.repeated ? Label.REPEATED : f.required && syntax === "proto2" ? Label.REQUIRED : Label.OPTIONAL,
      ...this.typeOf(f, f.type, f.resolvedType),
    };
    if (oneofIndex !== undefined) d.oneofIndex = oneofIndex;
    if (f.options?.proto3_optional === true) d.proto3Optional = true;
    if (f.options?.default !== undefined) d.defaultValue = String(f.options.default);
    const options: Record<string, unknown> = {};
    const scalarList = f.repeated && f.resolvedType === null && !["string", "bytes"].includes(f.type);
    if (scalarList && syntax === "proto3" && !f.packed) options.packed = false;
    if (scalarList && syntax === "proto2" && f.packed) options.packed = true;
    if (this.editions) {
      // Only what differs from edition 2023's defaults.
      const x = featuresOf(f);
      const features: Record<string, unknown> = {};
      if (x.field_presence === "IMPLICIT") features.fieldPresence = Presence.IMPLICIT;
      if (x.field_presence === "LEGACY_REQUIRED") features.fieldPresence = Presence.LEGACY_REQUIRED;
      if (scalarList && x.repeated_field_encoding === "EXPANDED") features.repeatedFieldEncoding = Repeated.EXPANDED;
      if (f.delimited) features.messageEncoding = MessageEncoding.DELIMITED;
      if (Object.keys(features).length > 0) options.features = features;
    }
    if (Object.keys(options).length > 0) d.options = options;
    return d;
  }

  enumOf(e: protobuf.Enum): EnumInit {
    const d: EnumInit = {
      name: e.name,
      value: Object.entries(e.values).map(([name, number]) => ({ name, number })),
    };
    const options: Record<string, unknown> = {};
    if (e.options?.allow_alias === true) options.allowAlias = true;
    if (this.editions && featuresOf(e).enum_type === "CLOSED") options.features = { enumType: EnumType.CLOSED };
    if (Object.keys(options).length > 0) d.options = options;
    return d;
  }

  message(t: protobuf.Type, syntax: string): MessageInit {
    // Real oneofs first, then proto3 optional's synthetic ones, as protoc orders them.
    const synthetic = (o: protobuf.OneOf): boolean => o.fieldsArray.some((f) => f.options?.proto3_optional === true);
    const oneofs = [...t.oneofsArray.filter((o) => !synthetic(o)), ...t.oneofsArray.filter(synthetic)];
    const nestedType: MessageInit[] = [];
    const field: FieldInit[] = [];
    for (const f of t.fieldsArray) {
      if (f.declaringField !== null) continue; // an extension's copy
      const at = f.partOf === null ? undefined : oneofs.indexOf(f.partOf);
      if (!(f instanceof protobuf.MapField)) {
        field.push(this.field(f, at, syntax));
        continue;
      }
      const entry = entryName(f.name);
      const keyField = { name: "key", number: 1, jsonName: "key", label: Label.OPTIONAL, type: SCALARS[f.keyType] };
      const valueField = {
        name: "value",
        number: 2,
        jsonName: "value",
        label: Label.OPTIONAL,
        ...this.typeOf(f, f.type, f.resolvedType),
      };
      nestedType.push({ name: entry, field: [keyField, valueField], options: { mapEntry: true } });
      field.push({
        name: f.name,
        number: f.id,
        jsonName: typeof f.options?.json_name === "string" ? f.options.json_name : jsonName(f.name),
        label: Label.REPEATED,
        type: T.MESSAGE,
        typeName: `${t.fullName}.${entry}`,
      });
    }
    const enumType: EnumInit[] = [];
    for (const n of t.nestedArray) {
      if (n instanceof protobuf.Type) nestedType.push(this.message(n, syntax));
      else if (n instanceof protobuf.Enum) enumType.push(this.enumOf(n));
    }
    return { name: t.name, field, nestedType, enumType, oneofDecl: oneofs.map((o) => ({ name: o.name })) };
  }

  service(s: protobuf.Service): ServiceInit {
    return {
      name: s.name,
      method: s.methodsArray.map((m) => {
        m.resolve();
        const input = m.resolvedRequestType as protobuf.Type;
        const output = m.resolvedResponseType as protobuf.Type;
        this.refs.add(input).add(output);
        return {
          name: m.name,
          inputType: input.fullName,
          outputType: output.fullName,
          clientStreaming: m.requestStream === true,
          serverStreaming: m.responseStream === true,
        };
      }),
    };
  }
}

interface PendingFile {
  name: string;
  pkg: string;
  syntax: string;
  builder: FileBuilder;
  proto: MessageInitShape<typeof FileDescriptorProtoSchema> & {
    messageType: MessageInit[];
    enumType: EnumInit[];
    service: ServiceInit[];
  };
}

/**
 * One descriptor file per .proto file (types protobufjs loaded from its own copies of the
 * well-known types have no file name: one per package then), each after the files it uses.
 */
export function descriptorsOf(root: protobuf.Root): FileDescriptorProto[] {
  const files = new Map<string, PendingFile>();
  const fileOf = new Map<protobuf.ReflectionObject, PendingFile>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    const pkg = ns.fullName.replace(/^\./, "");
    for (const o of ns.nestedArray) {
      if (!(o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service)) {
        if (o instanceof protobuf.Namespace) visit(o);
        continue;
      }
      const edition = editionOf(o) ?? "proto3";
      const syntax = edition === "proto2" || edition === "proto3" ? edition : "editions";
      const name = o.filename ?? `${pkg === "" ? "root" : pkg.replace(/\./g, "/")}.proto`;
      let file = files.get(name);
      if (file === undefined) {
        const proto = { name, package: pkg, syntax, messageType: [], enumType: [], service: [] };
        if (syntax === "editions")
          Object.assign(proto, { edition: edition === "2024" ? Edition.EDITION_2024 : Edition.EDITION_2023 });
        file = { name, pkg, syntax, builder: new FileBuilder(syntax === "editions"), proto };
        files.set(name, file);
      }
      const b = file.builder;
      if (o instanceof protobuf.Type) file.proto.messageType.push(b.message(o, syntax));
      else if (o instanceof protobuf.Enum) file.proto.enumType.push(b.enumOf(o));
      else file.proto.service.push(b.service(o));
      const own = (x: protobuf.ReflectionObject): void => {
        fileOf.set(x, file);
        if (x instanceof protobuf.Namespace || x instanceof protobuf.Type)
          for (const n of (x as protobuf.NamespaceBase).nestedArray) own(n);
      };
      own(o);
    }
  };
  visit(root);
  // Dependencies from the types each file refers to; then each file after those it depends on.
  const out: FileDescriptorProto[] = [];
  const done = new Set<PendingFile>();
  const emit = (f: PendingFile): void => {
    if (done.has(f)) return;
    done.add(f);
    const deps = new Set<PendingFile>();
    for (const r of f.builder.refs) {
      const d = fileOf.get(r);
      if (d !== undefined && d !== f) deps.add(d);
    }
    for (const d of deps) emit(d);
    f.proto.dependency = [...deps].map((d) => d.name);
    out.push(create(FileDescriptorProtoSchema, f.proto));
  };
  for (const f of files.values()) emit(f);
  return out;
}

/** Loads .proto files (imports from `importPaths`, then protobufjs's own well-known types) into a registry. */
export async function loadProtoFiles(files: string[], importPaths: string[]): Promise<FileRegistry> {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of ["", ...importPaths]) {
      const p = dir === "" ? resolve(target) : resolve(dir, target);
      if (existsSync(p)) return p;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  // Field names as written: the descriptors give their JSON names.
  await root.load(files, { keepCase: true });
  root.resolveAll();
  return createFileRegistry(create(FileDescriptorSetSchema, { file: descriptorsOf(root) }));
}
