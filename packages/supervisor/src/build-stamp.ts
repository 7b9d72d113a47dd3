// When the code a service runs was last built: `up` restarts a live process started before its build changed,
// and `status` says so. The code is more than the service's own main.js: a change in a workspace package it
// depends on (@select/datasets under the curator) rebuilds that package's dist/ and leaves main.js untouched.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Files that do not change what runs: types, source maps, tsc's incremental state. */
const IGNORED = /\.(d\.ts|d\.ts\.map|js\.map|tsbuildinfo)$/;

/**
 * Newest modification time (ms) of the code a process started from `program` runs: the program file, and every
 * file under dist/ of the workspace package in `packages/<packageDir>` and of the @select/* packages it depends
 * on, transitively (types, source maps and .tsbuildinfo left out). 0 when none of them exists.
 */
export function buildStamp(root: string, packageDir: string, program: string): number {
  const packages = workspacePackages(root);
  let newest = existsSync(program) ? statSync(program).mtimeMs : 0;
  const seen = new Set<string>();
  const visit = (dir: string | undefined): void => {
    if (dir === undefined || seen.has(dir)) return;
    seen.add(dir);
    newest = Math.max(newest, newestFileUnder(join(root, 'packages', dir, 'dist')));
    for (const dependency of packages.byDir.get(dir)?.dependencies ?? []) visit(packages.dirOf.get(dependency));
  };
  visit(packages.byDir.has(packageDir) ? packageDir : undefined);
  return newest;
}

interface Workspace {
  byDir: Map<string, { dependencies: string[] }>;
  dirOf: Map<string, string>;
}

function workspacePackages(root: string): Workspace {
  const byDir = new Map<string, { dependencies: string[] }>();
  const dirOf = new Map<string, string>();
  const packagesDir = join(root, 'packages');
  for (const dir of existsSync(packagesDir) ? readdirSync(packagesDir) : []) {
    let manifest: { name?: string; dependencies?: Record<string, string> };
    try {
      manifest = JSON.parse(readFileSync(join(packagesDir, dir, 'package.json'), 'utf8')) as typeof manifest;
    } catch {
      continue; // not a package (node_modules, a stray folder)
    }
    byDir.set(dir, { dependencies: Object.keys(manifest.dependencies ?? {}).filter((name) => name.startsWith('@select/')) });
    if (manifest.name !== undefined) dirOf.set(manifest.name, dir);
  }
  return { byDir, dirOf };
}

function newestFileUnder(dir: string): number {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestFileUnder(path));
    else if (entry.isFile() && !IGNORED.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
