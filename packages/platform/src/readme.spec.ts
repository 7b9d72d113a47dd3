import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grpcClientConfigSchema, grpcServerConfigSchema, loggingConfigSchema, renderConfigTable } from './index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents the options of the schemas this package defines, as they are', () => {
    expect(readme).toContain(renderConfigTable(loggingConfigSchema));
    expect(readme).toContain(renderConfigTable(grpcServerConfigSchema('SERVICE')));
    expect(readme).toContain(renderConfigTable(grpcClientConfigSchema('UPSTREAM')));
  });
});
