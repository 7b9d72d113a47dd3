// Decode + preprocess throughput alone (no inference), to see what the image path costs next to the model.
//   npx tsx tools/bench/embedding/preprocess-only.ts [--images 300] [--threads <cores>] [--mode exact|fast]
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PreprocessPool, fromHfImageProcessorConfig, preprocessImage } from '@select/vision';
// @ts-expect-error plain ESM module without types
import { ROOT, uptime, wholeOption } from '../lib/bench-kit.mjs';

const CACHE = join(ROOT, 'tools/bench/.cache/embedding');
const { values } = parseArgs({
  options: { images: { type: 'string', default: '300' }, threads: { type: 'string', default: String(availableParallelism()) }, mode: { type: 'string', default: 'exact' } },
});
const n: number = wholeOption('images', values.images);
const threads: number = wholeOption('threads', values.threads);
const mode = values.mode as 'exact' | 'fast';
if (mode !== 'exact' && mode !== 'fast') throw new Error(`--mode must be exact or fast, not ${values.mode}`);
console.log(`uptime before: ${uptime()}`);
const files = readdirSync(join(CACHE, 'jpegs')).sort().slice(0, n);
const jpegs = files.map((f) => readFileSync(join(CACHE, 'jpegs', f)));
const spec = fromHfImageProcessorConfig(JSON.parse(readFileSync(join(CACHE, 'models/clip-vit-b32/preprocessor_config.json'), 'utf8')));

let t0 = performance.now();
for (const b of jpegs) await preprocessImage(b, spec, { mode });
console.log(`${mode}, in-process, one at a time: ${(n / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);

const pool = new PreprocessPool({ threads, maxPending: 1024, mode });
await Promise.all(jpegs.slice(0, 16).map((b) => pool.preprocess(b, spec)));
t0 = performance.now();
await Promise.all(jpegs.map((b) => pool.preprocess(b, spec)));
console.log(`${mode}, pool of ${values.threads} threads: ${(n / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);
await pool.close();
console.log(`uptime after: ${uptime()}`);
