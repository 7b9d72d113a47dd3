import { readFileSync } from 'node:fs';
import { renderConfigTable } from '@select/platform';
import { describe, expect, it } from 'vitest';
import { evaluatorConfigSchema } from './config.js';

describe('README', () => {
  it('documents every configuration option as the schema defines it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(renderConfigTable(evaluatorConfigSchema));
  });
});
