// Evaluation sets registered once with the contamination gate: per set a folder in the registry with
// the sha256 of every image's bytes and its embedding from one model.
//   <registry>/<name>/set.json        name, model, modelId, dimension, items, source, created
//   <registry>/<name>/items.jsonl     {"id", "sha256"} per image, in embedding row order
//   <registry>/<name>/embeddings.f32  rows x dimension float32 (little-endian), L2-normalised
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import type { GateItem } from '@select/curation-filters';
import { ServiceError, type GenericServiceClient } from '@select/platform';
import type { Candidate } from '../chain/step.js';
import { embedCandidateImages } from './service-calls.js';

export interface EvaluationSetInfo {
  name: string;
  model: string;
  modelId: string;
  dimension: number;
  items: number;
  /** Images that could not be read or embedded (hash-only entries). */
  withoutEmbedding: number;
  source: string;
  created: string;
}

export const EVALUATION_SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.svg']);

export interface RegisterEvaluationSetOptions {
  registry: string;
  name: string;
  /** A folder of images (any depth: ImageNet val, -V2, -Sketch, -R, -A style class folders), or an explicit list. */
  source: { imagesDir: string } | { files: ReadonlyArray<{ id: string; path: string }>; description: string };
  model: string;
  modelId: string;
  embedding: GenericServiceClient;
  signal: AbortSignal;
  batchSize?: number;
  /** Called after each embedded batch with the images done so far and the set's size. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Registers an evaluation set once. Registering the same name again from the same source and model
 * returns the stored set; from another source or model it is FAILED_PRECONDITION (drop it first).
 */
export async function registerEvaluationSet(options: RegisterEvaluationSetOptions): Promise<EvaluationSetInfo> {
  const { registry, name } = options;
  if (!EVALUATION_SET_NAME.test(name)) throw ServiceError.invalidArgument(`evaluation set name "${name}" must match ${EVALUATION_SET_NAME}`);
  const source = 'imagesDir' in options.source ? options.source.imagesDir : options.source.description;
  const dir = join(registry, name);
  if (existsSync(join(dir, 'set.json'))) {
    const existing = await readSetInfo(registry, name);
    if (existing.source === source && existing.model === options.model) return existing;
    throw ServiceError.failedPrecondition(
      `evaluation set ${name} is already registered from ${existing.source} with model ${existing.model}; drop ${dir} to register it again`,
    );
  }
  const files = 'imagesDir' in options.source ? await listImages(options.source.imagesDir) : [...options.source.files];
  if (files.length === 0) throw ServiceError.invalidArgument(`evaluation set ${name}: ${source} holds no images`);
  // A folder of this registration's own: several workers (processes) of a build may register the same
  // set at once; each writes its own copy and the first rename wins (see below).
  const partial = `${dir}.${process.pid}-${randomUUID().slice(0, 8)}.partial`;
  await mkdir(partial, { recursive: true });
  try {
    return await writeSet(options, files, source, dir, partial);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

async function writeSet(
  options: RegisterEvaluationSetOptions,
  files: ReadonlyArray<{ id: string; path: string }>,
  source: string,
  dir: string,
  partial: string,
): Promise<EvaluationSetInfo> {
  const { registry, name } = options;
  const items: string[] = [];
  const vectors: Float32Array[] = [];
  let dimension = 0;
  let withoutEmbedding = 0;
  const batchSize = options.batchSize ?? 64;
  for (let start = 0; start < files.length; start += batchSize) {
    const slice = files.slice(start, start + batchSize);
    const bytes = await Promise.all(slice.map((f) => readFile(f.path)));
    const candidates: Candidate[] = slice.map((f, i) => ({ sourceId: f.id, image: { bytes: bytes[i]!, path: f.path, format: extname(f.path).slice(1) } }));
    const embedded = await embedCandidateImages(options.embedding, options.model, candidates, {
      signal: options.signal,
      loadImage: async (c: Candidate) => c.image!.bytes!,
    } as never);
    slice.forEach((f, i) => {
      const sha256 = createHash('sha256').update(bytes[i]!).digest('hex');
      const v = embedded[i]!;
      if (v instanceof Error) {
        withoutEmbedding++;
        items.push(JSON.stringify({ id: f.id, sha256, embedded: false }));
        return;
      }
      dimension = v.length;
      vectors.push(v);
      items.push(JSON.stringify({ id: f.id, sha256, embedded: true }));
    });
    options.onProgress?.(items.length, files.length);
  }
  const data = new Float32Array(vectors.length * dimension);
  vectors.forEach((v, i) => data.set(v, i * dimension));
  const info: EvaluationSetInfo = {
    name,
    model: options.model,
    modelId: options.modelId,
    dimension,
    items: files.length,
    withoutEmbedding,
    source,
    created: new Date().toISOString(),
  };
  await writeFile(join(partial, 'items.jsonl'), `${items.join('\n')}\n`);
  await writeFile(join(partial, 'embeddings.f32'), new Uint8Array(data.buffer));
  await writeFile(join(partial, 'set.json'), `${JSON.stringify(info, null, 2)}\n`);
  try {
    await rename(partial, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    // Another registration of the same name finished first: same source and model → the same set.
    const existing = await readSetInfo(registry, name);
    if (existing.source === source && existing.model === options.model) return existing;
    throw ServiceError.failedPrecondition(`evaluation set ${name} was registered at the same time from ${existing.source} with model ${existing.model}; drop ${dir} to register it again`);
  }
  return info;
}

export async function readSetInfo(registry: string, name: string): Promise<EvaluationSetInfo> {
  const path = join(registry, name, 'set.json');
  if (!existsSync(path)) throw ServiceError.invalidArgument(`no evaluation set ${name} is registered in ${registry}`);
  return JSON.parse(await readFile(path, 'utf8')) as EvaluationSetInfo;
}

/** Names of the sets in a registry (sorted). */
export async function listEvaluationSets(registry: string): Promise<string[]> {
  if (!existsSync(registry)) throw ServiceError.invalidArgument(`the evaluation-set registry ${registry} does not exist`);
  const names: string[] = [];
  for (const entry of await readdir(registry, { withFileTypes: true })) {
    // A `.partial` folder is a registration in progress (or one a killed process left behind).
    if (entry.isDirectory() && !entry.name.endsWith('.partial') && existsSync(join(registry, entry.name, 'set.json'))) names.push(entry.name);
  }
  return names.sort();
}

/** The set's items as the gate takes them. */
export async function loadEvaluationSet(registry: string, name: string): Promise<{ info: EvaluationSetInfo; items: GateItem[] }> {
  const info = await readSetInfo(registry, name);
  const lines = (await readFile(join(registry, name, 'items.jsonl'), 'utf8')).split('\n').filter((l) => l.length > 0);
  const raw = await readFile(join(registry, name, 'embeddings.f32'));
  const data = new Float32Array(raw.length / 4);
  new Uint8Array(data.buffer).set(raw);
  let row = 0;
  const items = lines.map((line) => {
    const item = JSON.parse(line) as { id: string; sha256: string; embedded: boolean };
    const out: GateItem = { id: item.id, sha256: item.sha256 };
    if (item.embedded) out.embedding = data.subarray(row * info.dimension, ++row * info.dimension);
    return out;
  });
  return { info, items };
}

/**
 * What a folder of evaluation images holds, as a hex sha256 of every image's relative path, size and
 * modification time (a directory walk, no image read): it changes when an image is added, removed or rewritten.
 */
export async function folderFingerprint(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listImages(root)) {
    const { size, mtimeMs } = await stat(file.path);
    hash.update(`${file.id}\t${size}\t${mtimeMs}\n`);
  }
  return hash.digest('hex');
}

async function listImages(root: string): Promise<Array<{ id: string; path: string }>> {
  if (!existsSync(root)) throw ServiceError.invalidArgument(`evaluation images folder ${root} does not exist`);
  const out: Array<{ id: string; path: string }> = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, e.name);
      if (e.isDirectory() && depth < 8) await walk(path, depth + 1);
      else if (e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) out.push({ id: relative(root, path).split(sep).join('/'), path });
    }
  };
  await walk(root, 0);
  return out;
}
