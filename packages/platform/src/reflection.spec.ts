// Server reflection as clients in other languages read it (grpcurl, Python's descriptor pool): every file
// under its import name, with its dependency list, and every type reference resolvable in what was served.
import { fileURLToPath } from 'node:url';
import { decodeFileDescriptor, type FileDescriptorObject } from '@select/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { reflect, reflectionClient, type ReflectionResponse } from '../test/fixtures/grpc-test-clients.js';
import { captureLogs } from '../test/fixtures/log-capture.js';
import { createGrpcServer, loadProtoPackage, status, type GenericServiceClient, type GrpcServer } from './index.js';

const CATALOG_SERVICE = 'select.testing.v1.Catalog';
const catalogDir = fileURLToPath(new URL('../test/fixtures/catalog/', import.meta.url));

const servers: GrpcServer[] = [];
const clients: GenericServiceClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown({ graceMs: 0 })));
});

async function startCatalog(): Promise<GrpcServer> {
  const server = createGrpcServer({ logger: captureLogs('reflection-test').logger });
  servers.push(server);
  server.addService(loadProtoPackage('select/testing/v1/catalog.proto', [catalogDir]), CATALOG_SERVICE, {
    lookup: () => ({}),
    async *watch() {},
  });
  await server.start();
  return server;
}

function files(response: ReflectionResponse): FileDescriptorObject[] {
  if (response.errorResponse) throw new Error(`reflection error ${response.errorResponse.errorCode}: ${response.errorResponse.errorMessage}`);
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => decodeFileDescriptor(bytes));
}

/** Fully-qualified names of every message and enum the files declare, nested ones included. */
function declaredTypes(served: readonly FileDescriptorObject[]): Set<string> {
  const names = new Set<string>();
  const walk = (prefix: string, messages: Record<string, unknown>[], enums: Record<string, unknown>[]): void => {
    for (const e of enums) names.add(`${prefix}.${String(e['name'])}`);
    for (const m of messages) {
      const name = `${prefix}.${String(m['name'])}`;
      names.add(name);
      walk(name, (m['nestedType'] as Record<string, unknown>[] | undefined) ?? [], (m['enumType'] as Record<string, unknown>[] | undefined) ?? []);
    }
  };
  for (const f of served) walk(f.package ? `.${f.package}` : '', f.messageType, f.enumType);
  return names;
}

/** Every type a field or method of the files refers to. */
function referencedTypes(served: readonly FileDescriptorObject[]): string[] {
  const refs: string[] = [];
  const walk = (messages: Record<string, unknown>[]): void => {
    for (const m of messages) {
      for (const f of (m['field'] as Record<string, unknown>[] | undefined) ?? []) if (f['typeName']) refs.push(String(f['typeName']));
      walk((m['nestedType'] as Record<string, unknown>[] | undefined) ?? []);
    }
  };
  for (const f of served) {
    walk(f.messageType);
    for (const s of f.service) {
      for (const m of (s['method'] as Record<string, unknown>[] | undefined) ?? []) refs.push(String(m['inputType']), String(m['outputType']));
    }
  }
  return refs;
}

describe.each(['v1', 'v1alpha'] as const)('server reflection %s', (version) => {
  function client(server: GrpcServer): GenericServiceClient {
    const c = reflectionClient(server.address, {}, version);
    clients.push(c);
    return c;
  }

  it('serves the file declaring a service under its import name, with its dependency list and the dependencies', async () => {
    const server = await startCatalog();
    const served = files(await reflect(client(server), { fileContainingSymbol: CATALOG_SERVICE }));
    expect(served.map((f) => f.name)).toEqual(['select/testing/v1/catalog.proto', 'select/common/v1/common.proto']);
    const [catalog] = served;
    expect(catalog?.dependency).toEqual(['select/common/v1/common.proto']);
    expect(catalog?.package).toBe('select.testing.v1');
    expect(catalog?.syntax).toBe('proto3');
    expect(catalog?.options).toMatchObject({ javaPackage: 'dev.select.testing.v1' });
  });

  it('serves only type references that resolve, fully qualified, within the files it served', async () => {
    const server = await startCatalog();
    const served = files(await reflect(client(server), { fileContainingSymbol: `${CATALOG_SERVICE}.Lookup` }));
    const declared = declaredTypes(served);
    const refs = referencedTypes(served);
    expect(refs).toContain('.select.common.v1.ItemError');
    expect(refs).toContain('.select.common.v1.JobStatus');
    for (const ref of refs) expect(declared, `${ref} is declared in a served file`).toContain(ref);
  });

  it('keeps the names written in the .proto and the shapes of maps, oneofs and proto3 optional fields', async () => {
    const server = await startCatalog();
    const [catalog] = files(await reflect(client(server), { fileContainingSymbol: 'select.testing.v1.LookupRequest' }));
    const lookup = catalog?.messageType.find((m) => m['name'] === 'LookupRequest') as Record<string, unknown>;
    const fields = lookup['field'] as Record<string, unknown>[];
    expect(fields.map((f) => f['name'])).toEqual(['catalog_id', 'max_results', 'entries_by_name', 'entry_name', 'entry_number', 'window', 'errors']);
    expect(fields[0]).toMatchObject({ jsonName: 'catalogId', type: 9, label: 1 });
    // The real oneof comes first; the synthetic one of the proto3 optional field follows it.
    expect(lookup['oneofDecl']).toEqual([{ name: 'selector' }, { name: '_max_results' }]);
    expect(fields[1]).toMatchObject({ proto3Optional: true, oneofIndex: 1 });
    expect(fields[3]).toMatchObject({ oneofIndex: 0 });
    expect(fields[2]).toMatchObject({ label: 3, type: 11, typeName: '.select.testing.v1.LookupRequest.EntriesByNameEntry' });
    const nested = lookup['nestedType'] as Record<string, unknown>[];
    expect(nested.map((n) => n['name'])).toEqual(['EntriesByNameEntry', 'Window']);
    expect(nested[0]).toMatchObject({ options: { mapEntry: true } });
    expect((nested[0]?.['field'] as Record<string, unknown>[])[1]).toMatchObject({ name: 'value', typeName: '.select.testing.v1.Entry' });
    const watch = (catalog?.service[0]?.['method'] as Record<string, unknown>[]).find((m) => m['name'] === 'Watch');
    expect(watch).toMatchObject({ inputType: '.select.common.v1.JobRef', outputType: '.select.testing.v1.Entry', serverStreaming: true });
  });

  it('serves imported files and the health proto by their import names, and NOT_FOUND for others', async () => {
    const server = await startCatalog();
    const c = client(server);
    const common = files(await reflect(c, { fileByFilename: 'select/common/v1/common.proto' }));
    expect(common.map((f) => f.name)).toEqual(['select/common/v1/common.proto']);
    expect(common[0]?.messageType.map((m) => m['name'])).toContain('ItemError');
    const health = files(await reflect(c, { fileContainingSymbol: 'grpc.health.v1.Health' }));
    expect(health.map((f) => f.name)).toEqual(['grpc/health/v1/health.proto']);
    expect(files(await reflect(c, { fileByFilename: 'grpc/health/v1/health.proto' }))[0]?.package).toBe('grpc.health.v1');
    const missing = await reflect(c, { fileByFilename: 'select_testing_v1.proto' });
    expect(missing.errorResponse?.errorCode).toBe(status.NOT_FOUND);
  });
});
