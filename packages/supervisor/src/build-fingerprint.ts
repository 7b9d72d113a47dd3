// What code a service runs: `up` restarts a live process whose code changed after it started, and `status` says
// so. The code is more than the service's own main.js: a change in a workspace package it depends on
// (@select/datasets under the curator) rewrites that package's dist/ and leaves main.js as it was. Contents, not
// modification times: every `nx run-many -t build` without the Nx daemon restores every package's dist/ from
// its cache, rewriting unchanged files.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Files that do not change what runs: types, source maps, tsc's incremental state. */
const IGNORED = /\.(d\.ts|d\.ts\.map|js\.map|tsbuildinfo)$/;

/**
 * A hex sha256 of the code a process started from `program` runs: the program file, and every file under dist/
 * of the workspace package in `packages/<packageDir>` and of the @select/* packages it depends on, transitively
 * (relative paths and contents; types, source maps and .tsbuildinfo left out).
 */
export function buildFingerprint(root: string, packageDir: string, program: string): string {
  const packages = workspacePackages(root);
  const hash = createHash('sha256').update(`program ${existsSync(program) ? fileHash(program) : 'missing'}\n`);
  const seen = new Set<string>();
  const visit = (dir: string | undefined): void => {
    if (dir === undefined || seen.has(dir)) return;
    seen.add(dir);
    for (const dependency of packages.byDir.get(dir)?.dependencies ?? []) visit(packages.dirOf.get(dependency));
  };
  visit(packages.byDir.has(packageDir) ? packageDir : undefined);
  for (const dir of [...seen].sort()) hash.update(`${dir} ${distHash(join(root, 'packages', dir, 'dist'))}\n`);
  return hash.digest('hex');
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

/** Content hashes of dist folders, by the listing (paths, sizes, mtimes) they were computed for: read again only when that changes. */
const distHashes = new Map<string, { listing: string; hash: string }>();

function distHash(dir: string): string {
  const files = listFiles(dir, dir);
  const listing = files.map((f) => `${f.path}\t${f.size}\t${f.mtimeMs}`).join('\n');
  const known = distHashes.get(dir);
  if (known?.listing === listing) return known.hash;
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.path}\t${fileHash(join(dir, file.path))}\n`);
  const digest = hash.digest('hex');
  distHashes.set(dir, { listing, hash: digest });
  return digest;
}

function fileHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function listFiles(root: string, dir: string): Array<{ path: string; size: number; mtimeMs: number }> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: Array<{ path: string; size: number; mtimeMs: number }> = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(root, path));
    else if (entry.isFile() && !IGNORED.test(entry.name)) {
      const { size, mtimeMs } = statSync(path);
      out.push({ path: relative(root, path), size, mtimeMs });
    }
  }
  return out;
}
