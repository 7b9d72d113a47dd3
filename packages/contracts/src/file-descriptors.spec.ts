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

  it('describes a bundled well-known import under its google/protobuf name', () => {
    const [timestamp] = buildFileDescriptors(['google/protobuf/timestamp.proto']);
    expect(timestamp).toMatchObject({ name: 'google/protobuf/timestamp.proto', package: 'google.protobuf', syntax: 'proto3' });
    expect(timestamp?.messageType.map((m) => m['name'])).toEqual(['Timestamp']);
  });
});
