import { readFileSync } from 'node:fs';
import { renderConfigTable } from '@select/platform';
import { describe, expect, it } from 'vitest';
import { trainerConfigSchema } from './config.js';
import { RECIPES } from './recipes.js';

describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  it('documents every configuration option as the schema defines it', () => {
    expect(readme).toContain(renderConfigTable(trainerConfigSchema));
  });
  it('names every recipe', () => {
    for (const r of RECIPES) expect(readme).toContain(`\`${r.name}\``);
  });
});
