import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildStamp } from './build-stamp.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'build-stamp-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** packages/<dir> with a package.json (name @select/<dir>) and the given dist files, each at `seconds`. */
function pkg(dir: string, dependencies: string[], files: string[], seconds = 1_000): void {
  writeFileSync(join(mkdirp(join(root, 'packages', dir)), 'package.json'), JSON.stringify({ name: `@select/${dir}`, dependencies: Object.fromEntries(dependencies.map((d) => [d, '*'])) }));
  for (const file of files) touch(join(root, 'packages', dir, 'dist', file), seconds);
}
function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
function touch(file: string, seconds: number): void {
  mkdirp(join(file, '..'));
  writeFileSync(file, '');
  utimesSync(file, seconds, seconds);
}

describe('buildStamp', () => {
  it("is the newest built file of the service's package and of the workspace packages it depends on, transitively", () => {
    pkg('curator', ['@select/datasets', 'kafkajs'], ['main.js'], 1_000);
    pkg('datasets', ['@select/platform'], ['index.js', 'nested/render.js'], 1_000);
    pkg('platform', [], ['index.js'], 1_000);
    pkg('trainer', [], ['main.js'], 5_000); // not a dependency
    mkdirp(join(root, 'packages', 'node_modules'));
    const program = join(root, 'packages', 'curator', 'dist', 'main.js');
    expect(buildStamp(root, 'curator', program)).toBe(1_000_000);

    touch(join(root, 'packages', 'platform', 'dist', 'index.js'), 2_000); // a dependency's dependency rebuilt
    expect(buildStamp(root, 'curator', program)).toBe(2_000_000);
    touch(join(root, 'packages', 'datasets', 'dist', 'nested', 'render.js'), 3_000);
    expect(buildStamp(root, 'curator', program)).toBe(3_000_000);
    // types, maps and tsc's state do not change what runs
    for (const file of ['index.d.ts', 'index.js.map', 'tsconfig.lib.tsbuildinfo']) touch(join(root, 'packages', 'datasets', 'dist', file), 9_000);
    expect(buildStamp(root, 'curator', program)).toBe(3_000_000);
  });

  it('is the program alone for a program outside the workspace, and 0 when nothing exists', () => {
    const script = join(root, 'script.mjs');
    touch(script, 4_000);
    expect(buildStamp(root, 'no-such-package', script)).toBe(4_000_000);
    expect(buildStamp(root, 'no-such-package', join(root, 'missing.mjs'))).toBe(0);
  });
});
