#!/usr/bin/env node
// Builds the native addon (build/Release/select_vector_index.node) with node-gyp, unless it is newer
// than its sources (scripts/build-native-addon.mjs at the repository root). `--force` rebuilds regardless.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath, buildAddon } from '../../../scripts/build-native-addon.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADDON = 'select_vector_index';
const require = createRequire(join(root, 'package.json'));
// usearch's headers are compiled in: a new usearch rebuilds the addon
const usearchPackage = (() => {
  let dir = dirname(require.resolve('usearch'));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'include'))) dir = dirname(dir);
  return join(dir, 'package.json');
})();

export function buildNative({ force = false } = {}) {
  return buildAddon({ root, addon: ADDON, extraSources: [usearchPackage], force });
}

/** vitest globalSetup hook: tests need the addon. */
export default function setup() {
  buildNative();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rebuilt = buildNative({ force: process.argv.includes('--force') });
  console.log(rebuilt ? `built ${addonPath(root, ADDON)}` : `${addonPath(root, ADDON)} is up to date`);
}
