/**
 * A set of protobuf file descriptors, indexed for reflection: files by name, and the file
 * that defines each fully-qualified symbol (services, methods, messages, fields, enums, enum
 * values, extensions). Pure: no transport here.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export class DescriptorIndex {
  private readonly files = new Map<string, { proto: FileDescriptorProto; bytes: Uint8Array }>();
  private readonly symbols = new Map<string, string>();
  private readonly extensions = new Map<string, Map<number, string>>();

  /** @param set a serialized google.protobuf.FileDescriptorSet */
  constructor(set: Uint8Array) {
    for (const f of fromBinary(FileDescriptorSetSchema, set).file) this.add(f);
  }

  private add(f: FileDescriptorProto): void {
    this.files.set(f.name, { proto: f, bytes: toBinary(FileDescriptorProtoSchema, f) });
    const pkg = f.package === "" ? "" : `${f.package}.`;
    const def = (name: string): void => void this.symbols.set(name, f.name);
    if (f.package !== "") def(f.package);
    for (const s of f.service) {
      def(pkg + s.name);
      for (const m of s.method) def(`${pkg}${s.name}.${m.name}`);
    }
    for (const e of f.enumType) {
      def(pkg + e.name);
      for (const v of e.value) def(pkg + v.name);
    }
    for (const x of f.extension) this.addExtension(x.extendee, x.number, f.name, pkg + x.name);
    const message = (prefix: string, m: DescriptorProto): void => {
      const name = prefix + m.name;
      def(name);
      for (const fld of m.field) def(`${name}.${fld.name}`);
      for (const o of m.oneofDecl) def(`${name}.${o.name}`);
      for (const e of m.enumType) {
        def(`${name}.${e.name}`);
        for (const v of e.value) def(`${name}.${v.name}`);
      }
      for (const x of m.extension) this.addExtension(x.extendee, x.number, f.name, `${name}.${x.name}`);
      for (const n of m.nestedType) message(`${name}.`, n);
    };
    for (const m of f.messageType) message(pkg, m);
  }

  private addExtension(extendee: string, number: number, file: string, name: string): void {
    const base = extendee.replace(/^\./, "");
    let m = this.extensions.get(base);
    if (m === undefined) this.extensions.set(base, (m = new Map()));
    m.set(number, file);
    this.symbols.set(name, file);
  }

  /** File names in the set. */
  fileNames(): string[] {
    return [...this.files.keys()];
  }

  /** The file defining a fully-qualified symbol (a leading dot is allowed), or undefined. */
  fileOf(symbol: string): string | undefined {
    return this.symbols.get(symbol.replace(/^\./, ""));
  }

  /** True when a service of that full name is described. */
  hasService(name: string): boolean {
    const file = this.fileOf(name);
    if (file === undefined) return false;
    const f = this.files.get(file)?.proto;
    return f !== undefined && f.service.some((s) => (f.package === "" ? s.name : `${f.package}.${s.name}`) === name);
  }

  /** The file extending `type` with field `number`, or undefined. */
  fileOfExtension(type: string, number: number): string | undefined {
    return this.extensions.get(type.replace(/^\./, ""))?.get(number);
  }

  /** Extension numbers of a message type ([] when it has none; undefined when the type is unknown). */
  extensionNumbers(type: string): number[] | undefined {
    if (this.fileOf(type) === undefined) return undefined;
    return [...(this.extensions.get(type.replace(/^\./, ""))?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * The serialized file and every file it depends on, transitively, dependencies after their
   * dependents' first mention (so a client can build all descriptors). Undefined when the
   * file is unknown or a dependency is missing from the set.
   */
  withDependencies(file: string): Uint8Array[] | undefined {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (name: string): boolean => {
      if (seen.has(name)) return true;
      seen.add(name);
      const f = this.files.get(name);
      if (f === undefined) return false;
      out.push(f.bytes);
      return f.proto.dependency.every(visit);
    };
    return visit(file) ? out : undefined;
  }
}

/** islb's own descriptor set (descriptors/islb.binpb, made by `make generate`), serialized. */
export function islbDescriptorSet(): Uint8Array {
  return readFileSync(fileURLToPath(new URL("../../../descriptors/islb.binpb", import.meta.url)));
}

/** islb's own descriptors, indexed. */
export function islbDescriptors(): DescriptorIndex {
  return new DescriptorIndex(islbDescriptorSet());
}
