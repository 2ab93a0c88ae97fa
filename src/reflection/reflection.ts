/**
 * gRPC server reflection, as a pure function of a request: list the services a server hosts,
 * find a file by name, or the file defining a symbol or extension, each with its transitive
 * dependencies. No transport here; mount.ts serves it.
 */
import type {
  ServerReflectionRequest,
  ServerReflectionResponse,
} from "../../generated/grpc/reflection/v1/reflection.js";
import { Status } from "../status.js";
import type { DescriptorIndex } from "./descriptors.js";

export class Reflection {
  /**
   * @param index the descriptors of every service served (and their dependencies)
   * @param services the full names of the services the server hosts now
   */
  constructor(
    private readonly index: DescriptorIndex,
    private readonly services: () => string[],
  ) {}

  answer(req: ServerReflectionRequest): ServerReflectionResponse {
    const base = { validHost: req.host, originalRequest: req };
    const files = (file: string | undefined, what: string): ServerReflectionResponse => {
      const protos = file === undefined ? undefined : this.index.withDependencies(file);
      if (protos === undefined)
        return { ...base, errorResponse: { errorCode: Status.NOT_FOUND, errorMessage: `${what} not found` } };
      return { ...base, fileDescriptorResponse: { fileDescriptorProto: protos.map((b) => Buffer.from(b)) } };
    };
    if (req.listServices !== undefined) {
      return {
        ...base,
        listServicesResponse: {
          service: this.services()
            .sort()
            .map((name) => ({ name })),
        },
      };
    }
    if (req.fileByFilename !== undefined)
      return files(req.fileByFilename, `file ${JSON.stringify(req.fileByFilename)}`);
    if (req.fileContainingSymbol !== undefined)
      return files(this.index.fileOf(req.fileContainingSymbol), `symbol ${JSON.stringify(req.fileContainingSymbol)}`);
    if (req.fileContainingExtension !== undefined) {
      const { containingType, extensionNumber } = req.fileContainingExtension;
      return files(
        this.index.fileOfExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of ${containingType}`,
      );
    }
    if (req.allExtensionNumbersOfType !== undefined) {
      const numbers = this.index.extensionNumbers(req.allExtensionNumbersOfType);
      if (numbers === undefined)
        return {
          ...base,
          errorResponse: {
            errorCode: Status.NOT_FOUND,
            errorMessage: `type ${JSON.stringify(req.allExtensionNumbersOfType)} not found`,
          },
        };
      return {
        ...base,
        allExtensionNumbersResponse: { baseTypeName: req.allExtensionNumbersOfType, extensionNumber: numbers },
      };
    }
    return {
      ...base,
      errorResponse: {
        errorCode: Status.INVALID_ARGUMENT,
        errorMessage: "the request asks nothing (set one of its message_request fields)",
      },
    };
  }
}
