import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROTO_FILES, PROTO_ROOT, buildFileDescriptors, decodeFileDescriptor, encodeFileDescriptors, packageDefinition } from './index.js';

function importsOf(file: string): string[] {
  const text = readFileSync(join(PROTO_ROOT, file), 'utf8');
  return [...text.matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)].map((m) => m[1] ?? '');
}

describe('file descriptors', () => {
  const files = buildFileDescriptors(Object.values(PROTO_FILES));

  it('describes every proto file once, under its import path, with the imports it declares, dependencies first', () => {
    expect(files.map((f) => f.name).sort()).toEqual(Object.values(PROTO_FILES).sort());
    const seen = new Set<string>();
    for (const file of files) {
      expect(file.dependency).toEqual(importsOf(file.name));
      for (const dep of file.dependency) expect(seen, `${dep} comes before ${file.name}`).toContain(dep);
      seen.add(file.name);
      expect(file.package).toBe(file.name.split('/').slice(0, -1).join('.'));
      expect(file.syntax).toBe('proto3');
    }
  });

  it('gives every field and method a fully-qualified type that one of the files declares', () => {
    const declared = new Set<string>();
    const refs: string[] = [];
    const walk = (prefix: string, messages: Record<string, unknown>[], enums: Record<string, unknown>[]): void => {
      for (const e of enums) declared.add(`${prefix}.${String(e['name'])}`);
      for (const m of messages) {
        const name = `${prefix}.${String(m['name'])}`;
        declared.add(name);
        for (const f of m['field'] as Record<string, unknown>[]) if (f['typeName']) refs.push(String(f['typeName']));
        walk(name, (m['nestedType'] as Record<string, unknown>[] | undefined) ?? [], (m['enumType'] as Record<string, unknown>[] | undefined) ?? []);
      }
    };
    for (const f of files) {
      walk(`.${f.package}`, f.messageType, f.enumType);
      for (const s of f.service) for (const m of s['method'] as Record<string, unknown>[]) refs.push(String(m['inputType']), String(m['outputType']));
    }
    expect(refs.length).toBeGreaterThan(100);
    for (const ref of refs) expect(declared, ref).toContain(ref);
  });

  it('round-trips through the FileDescriptorProto encoding', () => {
    const [common] = files;
    const back = decodeFileDescriptor(encodeFileDescriptors(files)[0] ?? Buffer.alloc(0));
    expect(back.name).toBe(common?.name);
    expect(back.messageType.map((m) => m['name'])).toEqual(common?.messageType.map((m) => m['name']));
  });

  it('puts the real descriptors on the package definitions services register', () => {
    const definition = packageDefinition('retrieval');
    const entry = definition['select.retrieval.v1.AddVectorsResponse'] as { fileDescriptorProtos: Buffer[] };
    expect(entry.fileDescriptorProtos.map((b) => decodeFileDescriptor(b).name)).toEqual([
      'select/common/v1/common.proto',
      'select/retrieval/v1/retrieval.proto',
    ]);
  });

  it("carries the .proto's comments, leading and trailing, at the lines of their declarations", () => {
    const retrieval = files.find((f) => f.name === 'select/retrieval/v1/retrieval.proto')!;
    const source = readFileSync(join(PROTO_ROOT, retrieval.name), 'utf8').split('\n');
    const locations = retrieval.sourceCodeInfo?.location ?? [];
    const at = (path: number[]) => locations.find((l) => JSON.stringify(l['path']) === JSON.stringify(path));
    const service = retrieval.service.findIndex((s) => s['name'] === 'RetrievalService');
    const addVectors = (retrieval.service[service]!['method'] as Record<string, unknown>[]).findIndex((m) => m['name'] === 'AddVectors');
    const method = at([6, service, 2, addVectors]);
    expect(method?.['leadingComments']).toMatch(/^ Client stream of \(id, vector, metadata\)\. Duplicate ids replace the earlier vector \(upsert\)\.\n$/);
    expect(source[(method?.['span'] as number[])[0]!]).toMatch(/rpc AddVectors\(/);
    const ann = retrieval.messageType.findIndex((m) => m['name'] === 'AnnParams');
    const connectivity = at([4, ann, 2, 0]);
    expect(connectivity?.['trailingComments']).toBe(' HNSW M; 0: default\n');
    expect(source[(connectivity?.['span'] as number[])[0]!]).toMatch(/uint32 connectivity = 1;/);
    // Every location points at a line that names what it describes.
    expect(locations.length).toBeGreaterThan(20);
    for (const l of locations) expect(source[(l['span'] as number[])[0]!]?.trim()).not.toBe('');
  });

  it('describes a bundled well-known import under its google/protobuf name', () => {
    const [timestamp] = buildFileDescriptors(['google/protobuf/timestamp.proto']);
    expect(timestamp).toMatchObject({ name: 'google/protobuf/timestamp.proto', package: 'google.protobuf', syntax: 'proto3' });
    expect(timestamp?.messageType.map((m) => m['name'])).toEqual(['Timestamp']);
  });
});
