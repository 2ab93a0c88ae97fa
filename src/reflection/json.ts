/**
 * The canonical proto3 JSON mapping of the methods described in a descriptor set, with
 * @bufbuild/protobuf: 64-bit integers as strings, enums by name, unknown keys and invalid
 * values refused with a message saying which.
 */
import {
  createFileRegistry,
  fromBinary,
  fromJsonString,
  toBinary,
  toJsonString,
  type DescMessage,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { JsonCodec } from "../transport/server-core.js";

export class DescriptorJson implements JsonCodec {
  private readonly methods = new Map<string, { input: DescMessage; output: DescMessage }>();

  /** @param set a serialized google.protobuf.FileDescriptorSet */
  constructor(set: Uint8Array) {
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
    for (const file of registry.files) {
      for (const svc of file.services)
        for (const m of svc.methods)
          this.methods.set(`/${svc.typeName}/${m.name}`, { input: m.input, output: m.output });
    }
  }

  knows(path: string): boolean {
    return this.methods.has(path);
  }

  private get(path: string): { input: DescMessage; output: DescMessage } {
    const m = this.methods.get(path);
    if (m === undefined) throw new Error(`no descriptor for ${path}`);
    return m;
  }

  requestFromJson(path: string, json: string): Uint8Array {
    const { input } = this.get(path);
    return toBinary(input, fromJsonString(input, json));
  }

  responseToJson(path: string, bytes: Uint8Array): string {
    const { output } = this.get(path);
    return toJsonString(output, fromBinary(output, bytes));
  }

  /** A message of a fully-qualified type, JSON to binary and back (for tests and tools). */
  static messageJson(
    set: Uint8Array,
    typeName: string,
  ): { fromJson(json: string): Uint8Array; toJson(bytes: Uint8Array): string } {
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
    const desc = registry.getMessage(typeName);
    if (desc === undefined) throw new Error(`no message ${typeName}`);
    return {
      fromJson: (json) => toBinary(desc, fromJsonString(desc, json)),
      toJson: (bytes) => toJsonString(desc, fromBinary(desc, bytes)),
    };
  }
}
