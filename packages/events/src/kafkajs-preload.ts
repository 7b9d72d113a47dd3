// Puts a replacement for one of kafkajs' internal modules into Node's module cache, under kafkajs' own file
// name, before kafkajs requires it (kafkajs-grouping.ts, kafkajs-record-decoder.ts). kafkajs requires such a
// module once, when the module that uses it loads; if that already happened, nothing changes.
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Caches `exports` as kafkajs' `target` (e.g. 'kafkajs/src/producer/groupMessagesPerPartition.js') unless it or
 * one of `usedBy` (the kafkajs modules that require it) is loaded already. Returns whether it was installed.
 */
export function preloadKafkajsModule(target: string, usedBy: readonly string[], exports: unknown): boolean {
  try {
    const file = require.resolve(target);
    if (require.cache[file] !== undefined || usedBy.some((user) => require.cache[require.resolve(user)] !== undefined)) return false;
    const module = new Module(file);
    module.filename = file;
    module.loaded = true;
    module.exports = exports;
    require.cache[file] = module;
    return true;
  } catch {
    return false;
  }
}
