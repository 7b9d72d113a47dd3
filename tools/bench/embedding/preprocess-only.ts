// Decode + preprocess throughput alone (no inference), to see what the image path costs next to the model.
//   npx tsx tools/bench/embedding/preprocess-only.ts [--images 300] [--threads 2]
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PreprocessPool, fromHfImageProcessorConfig, preprocessImage } from '@select/vision';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CACHE = join(ROOT, 'tools/bench/.cache/embedding');
const { values } = parseArgs({ options: { images: { type: 'string', default: '300' }, threads: { type: 'string', default: '2' } } });
const n = Number(values.images);
const files = readdirSync(join(CACHE, 'jpegs')).sort().slice(0, n);
const jpegs = files.map((f) => readFileSync(join(CACHE, 'jpegs', f)));
const spec = fromHfImageProcessorConfig(JSON.parse(readFileSync(join(CACHE, 'models/clip-vit-b32/preprocessor_config.json'), 'utf8')));

let t0 = performance.now();
for (const b of jpegs) await preprocessImage(b, spec);
console.log(`in-process, one at a time: ${(n / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);

const pool = new PreprocessPool({ threads: Number(values.threads), maxPending: 1024 });
await Promise.all(jpegs.slice(0, 16).map((b) => pool.preprocess(b, spec)));
t0 = performance.now();
await Promise.all(jpegs.map((b) => pool.preprocess(b, spec)));
console.log(`pool of ${values.threads} threads: ${(n / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);
await pool.close();
