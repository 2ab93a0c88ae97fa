/** Serves reflection (grpc.reflection.v1 and v1alpha) on a server, for every service it hosts. */
import {
  ServerReflectionDefinition as V1,
  type ServerReflectionRequest,
} from "../../generated/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition as V1Alpha } from "../../generated/grpc/reflection/v1alpha/reflection.js";
import type { NatsServer } from "../transport/server.js";
import type { DescriptorIndex } from "./descriptors.js";
import { Reflection } from "./reflection.js";

/** Adds both reflection services to `server` (before `listen`). Services without descriptors in `index` are listed all the same. */
export function addReflection(server: NatsServer, index: DescriptorIndex): Reflection {
  const reflection = new Reflection(index, () => server.serviceNames);
  const impl = {
    async *serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequest>) {
      for await (const r of requests) yield reflection.answer(r);
    },
  };
  server.add(V1, impl);
  server.add(V1Alpha, impl as never);
  return reflection;
}
