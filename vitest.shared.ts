// Shared vitest settings for every package. Workspace packages resolve to their TypeScript
// sources (not dist/), so tests never run against a stale build.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

export function workspaceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const dir of readdirSync(join(root, 'packages'))) {
    const entry = join(root, 'packages', dir, 'src', 'index.ts');
    if (existsSync(entry)) aliases[`@select/${dir}`] = entry;
  }
  return aliases;
}

export function packageConfig(overrides: UserConfig['test'] = {}): UserConfig {
  return defineConfig({
    resolve: { alias: workspaceAliases() },
    test: {
      include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
      // Tests that stop or restart shared infrastructure run alone, after everything else: see vitest.config.ts.
      exclude: ['**/node_modules/**', '**/dist/**', '**/*.fault.spec.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...overrides,
    },
  });
}
