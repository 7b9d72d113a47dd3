import { loadSync, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '@select/contracts';

// One set of proto-loader options for the whole system lives in @select/contracts (the generated types
// assume it): camelCase fields, 64-bit integers as decimal strings, enums by name, defaults filled in,
// oneofs with a virtual field naming the member that is set, and the project protos/ on the include path.
export { PROTO_LOADER_OPTIONS };

/**
 * Loads .proto files with PROTO_LOADER_OPTIONS. `includeDirs` are searched before the project's
 * protos/ directory, so a test-only or third-party proto can import `select/common/v1/...`.
 */
export function loadProtoPackage(files: string | readonly string[], includeDirs: readonly string[] = []): PackageDefinition {
  return loadSync(typeof files === 'string' ? files : [...files], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [...includeDirs, ...(PROTO_LOADER_OPTIONS.includeDirs ?? [])],
  });
}

/** The definition of the fully-qualified service `name` (e.g. `select.embedding.v1.EmbeddingService`). */
export function findService(packageDefinition: PackageDefinition, name: string): ServiceDefinition {
  const definition = packageDefinition[name];
  if (!definition || 'format' in definition) {
    const services = Object.entries(packageDefinition)
      .filter(([, d]) => !('format' in d))
      .map(([n]) => n);
    throw new Error(`Service ${name} is not in this package definition (it has: ${services.join(', ') || 'no services'})`);
  }
  return definition as ServiceDefinition;
}
