import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** A module next to `base`, named without extension: the built `.js` when it exists, else the `.ts` source. */
export function resolveWorkerModule(base: string, name: string): { href: string; typescript: boolean } {
  const js = new URL(`./${name}.js`, base);
  if (existsSync(fileURLToPath(js))) return { href: js.href, typescript: false };
  return { href: new URL(`./${name}.ts`, base).href, typescript: true };
}

/**
 * Start a worker on a module next to `base` (pass `import.meta.url`), named without extension. Built
 * packages run the compiled `.js`; from TypeScript sources (tests, `tsx`) the `.ts` module is loaded through
 * tsx's ESM hooks, registered inside the worker because a worker does not inherit the parent's loaders.
 * `viaTsx` registers them even for a built module, which is then free to import TypeScript sources.
 */
export function startModuleWorker(base: string, name: string, options: WorkerOptions = {}, { viaTsx = false } = {}): Worker {
  const entry = resolveWorkerModule(base, name);
  if (!entry.typescript && !viaTsx) return new Worker(new URL(entry.href), options);
  const tsxRoot = dirname(createRequire(base).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href;
  const code = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { ...options, eval: true });
}
