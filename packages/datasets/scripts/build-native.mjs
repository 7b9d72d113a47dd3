#!/usr/bin/env node
// Builds the JPEG decoder addon (build/Release/select_jpeg_decode.node, from native/jpeg-decode.c) with node-gyp, unless it is newer
// than its sources. Uses this Node's own headers when they are installed next to it, so that node-gyp
// never tries to download them. `--force` rebuilds regardless.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(root, 'build', 'Release', 'select_jpeg_decode.node');
const require = createRequire(join(root, 'package.json'));
const sources = [join(root, 'binding.gyp'), ...readdirSync(join(root, 'native')).map((f) => join(root, 'native', f))];

export function buildNative({ force = false } = {}) {
  if (!force && existsSync(addon)) {
    const built = statSync(addon).mtimeMs;
    if (sources.every((file) => statSync(file).mtimeMs <= built)) return false;
  }
  const args = ['rebuild', '--release', `-j`, 'max'];
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
  const gyp = process.env.npm_config_node_gyp ?? findNodeGyp();
  try {
    execFileSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    process.stderr.write(error.stdout ?? '');
    process.stderr.write(error.stderr ?? '');
    throw new Error(`node-gyp failed to build ${addon}`, { cause: error });
  }
  return true;
}

// npm ships node-gyp; outside `npm run` locate the copy inside npm itself.
function findNodeGyp() {
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.unshift(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package; fall back to npm's copy
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('node-gyp not found; install it or run this through `npm run build:native`');
  return found;
}

/** vitest globalSetup hook: the decode tests need the addon. */
export default function setup() {
  buildNative();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rebuilt = buildNative({ force: process.argv.includes('--force') });
  console.log(rebuilt ? `built ${addon}` : `${addon} is up to date`);
}
