#!/usr/bin/env node
// Builds the preprocessing addon (build/Release/select_vision_preprocess.node, from native/preprocess.c) with
// node-gyp, unless it is newer than its sources (scripts/build-native-addon.mjs at the repository root).
// `--force` rebuilds regardless.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath, buildAddon } from '../../../scripts/build-native-addon.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADDON = 'select_vision_preprocess';

export function buildNative({ force = false } = {}) {
  return buildAddon({ root, addon: ADDON, force });
}

/** vitest globalSetup hook: the native-path tests need the addon. */
export default function setup() {
  buildNative();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rebuilt = buildNative({ force: process.argv.includes('--force') });
  console.log(rebuilt ? `built ${addonPath(root, ADDON)}` : `${addonPath(root, ADDON)} is up to date`);
}
