import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFingerprint } from './build-fingerprint.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'build-fingerprint-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** packages/<dir> with a package.json (name @select/<dir>) and the given dist files. */
function pkg(dir: string, dependencies: string[], files: string[]): void {
  mkdirSync(join(root, 'packages', dir), { recursive: true });
  writeFileSync(join(root, 'packages', dir, 'package.json'), JSON.stringify({ name: `@select/${dir}`, dependencies: Object.fromEntries(dependencies.map((d) => [d, '*'])) }));
  for (const file of files) write(join(root, 'packages', dir, 'dist', file), `// ${dir}/${file}\n`);
}
function write(file: string, text: string, seconds?: number): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  if (seconds !== undefined) utimesSync(file, seconds, seconds);
}

describe('buildFingerprint', () => {
  it("changes with the code of the service's package and of the workspace packages it depends on, transitively, and nothing else", () => {
    pkg('curator', ['@select/datasets', 'kafkajs'], ['main.js']);
    pkg('datasets', ['@select/platform'], ['index.js', 'nested/render.js']);
    pkg('platform', [], ['index.js']);
    pkg('trainer', [], ['main.js']); // not a dependency
    mkdirSync(join(root, 'packages', 'node_modules'));
    const program = join(root, 'packages', 'curator', 'dist', 'main.js');
    const first = buildFingerprint(root, 'curator', program);
    expect(first).toMatch(/^[0-9a-f]{64}$/);

    // the same files written again later (a build restoring them from Nx's cache): the same code
    write(join(root, 'packages', 'datasets', 'dist', 'nested', 'render.js'), '// datasets/nested/render.js\n', Date.now() / 1000 + 60);
    expect(buildFingerprint(root, 'curator', program)).toBe(first);
    // what does not run, and a package it does not depend on
    for (const file of ['index.d.ts', 'index.js.map', 'tsconfig.lib.tsbuildinfo']) write(join(root, 'packages', 'datasets', 'dist', file), 'x');
    write(join(root, 'packages', 'trainer', 'dist', 'main.js'), '// new trainer\n');
    expect(buildFingerprint(root, 'curator', program)).toBe(first);

    // a dependency's dependency with new code
    write(join(root, 'packages', 'platform', 'dist', 'index.js'), '// platform, rebuilt\n');
    const second = buildFingerprint(root, 'curator', program);
    expect(second).not.toBe(first);
    // a file added to a dependency
    write(join(root, 'packages', 'datasets', 'dist', 'extra.js'), '// new module\n');
    expect(buildFingerprint(root, 'curator', program)).not.toBe(second);
  });

  it('covers the program itself, also outside the workspace', () => {
    const script = join(root, 'script.mjs');
    write(script, 'console.log(1);\n');
    const first = buildFingerprint(root, 'no-such-package', script);
    write(script, 'console.log(2);\n');
    expect(buildFingerprint(root, 'no-such-package', script)).not.toBe(first);
    expect(buildFingerprint(root, 'no-such-package', join(root, 'missing.mjs'))).not.toBe(first);
  });
});
