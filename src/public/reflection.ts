/**
 * `islb/reflection`: gRPC server reflection and NATS micro discovery for your own servers,
 * from your own descriptor set, so `islb list / describe / call --nid` and `nats micro ls`
 * work on them. `serveReflection` is the one call; the rest are its parts.
 */
export { serveReflection, type ReflectionOptions, type ServedReflection } from "../reflection/serve.js";
export { addReflection } from "../reflection/mount.js";
export { serveMicro, type MicroOptions } from "../micro/discovery.js";
export { DescriptorIndex, islbDescriptorSet } from "../reflection/descriptors.js";
export { DescriptorJson } from "../reflection/json.js";
export { Reflection } from "../reflection/reflection.js";
