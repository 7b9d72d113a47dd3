import { basename, dirname, isAbsolute, relative, sep } from 'node:path';
import type { PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, loadPackageDefinition } from '@select/contracts';
import { protoPath as healthProtoPath } from 'grpc-health-check';

// One set of proto-loader options for the whole system lives in @select/contracts (the generated types
// assume it): camelCase fields, 64-bit integers as decimal strings, enums by name, defaults filled in,
// oneofs with a virtual field naming the member that is set, and the project protos/ on the include path.
export { PROTO_LOADER_OPTIONS };

// grpc-health-check ships grpc/health/v1/health.proto as proto/health/v1/health.proto; reflection serves
// it under the name every other gRPC implementation uses.
const HEALTH_INCLUDE_DIR = dirname(dirname(dirname(healthProtoPath)));
const HEALTH_FILE = relative(HEALTH_INCLUDE_DIR, healthProtoPath).split(sep).join('/');
const HEALTH_SERVED_NAME = 'grpc/health/v1/health.proto';

/**
 * Loads .proto files with PROTO_LOADER_OPTIONS. `includeDirs` are searched before the project's
 * protos/ directory, so a test-only or third-party proto can import `select/common/v1/...`. Each file is
 * named by its path under the include directory it was found in (an absolute path outside every include
 * directory is named by its base name); server reflection serves the files under those names.
 */
export function loadProtoPackage(files: string | readonly string[], includeDirs: readonly string[] = []): PackageDefinition {
  const dirs = [...includeDirs];
  const names: string[] = [];
  const renames: Record<string, string> = {};
  for (const file of typeof files === 'string' ? [files] : files) {
    if (file === healthProtoPath) {
      if (!dirs.includes(HEALTH_INCLUDE_DIR)) dirs.push(HEALTH_INCLUDE_DIR);
      names.push(HEALTH_FILE);
      renames[HEALTH_FILE] = HEALTH_SERVED_NAME;
    } else if (isAbsolute(file)) {
      const under = dirs.find((dir) => !relative(dir, file).startsWith('..'));
      if (under !== undefined) names.push(relative(under, file).split(sep).join('/'));
      else {
        dirs.push(dirname(file));
        names.push(basename(file));
      }
    } else {
      names.push(file);
    }
  }
  return loadPackageDefinition(names, { includeDirs: dirs, renames });
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
