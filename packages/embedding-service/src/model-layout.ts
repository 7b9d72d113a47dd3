import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fromHfImageProcessorConfig, fromTimmPretrainedCfg, type ImagePreprocessing } from '@select/vision';
import { ModelLayoutError } from './errors.js';

export type ModelKind = 'image-text' | 'image-only' | 'text-only';

/** The image tower of a model: which graph, its input and output, and the preprocessing its config prescribes. */
export interface ImageTower {
  /** The .onnx graph; a combined CLIP export names the same file for both towers. */
  onnx: string;
  input: string;
  output: string;
  preprocessing: ImagePreprocessing;
}

/** The text tower: graph, tokenizer files, context length and how token states become one vector. */
export interface TextTower {
  /** The .onnx graph; a combined CLIP export names the same file for both towers. */
  onnx: string;
  tokenizerJson: string;
  tokenizerConfig: string;
  maxTokens: number;
  /** 'projected': the graph returns one vector per text (CLIP text_embeds); 'mean': mean over token states. */
  pooling: 'projected' | 'mean';
  output: string;
}

export interface ModelFileInfo {
  name: string;
  sha256: string;
  sizeBytes: number;
}

/** A model found on disk, described from the files its exporter wrote. */
export interface ModelSpec {
  name: string;
  dir: string;
  kind: ModelKind;
  /** Embedding size as the config declares it; checked against the loaded graph. */
  dimension: number;
  /** Which exporter layout the directory follows. */
  layout: 'hf-clip' | 'timm' | 'sentence-transformers';
  image?: ImageTower;
  text?: TextTower;
  files: ModelFileInfo[];
}

function readJson(dir: string, file: string): Record<string, unknown> {
  const path = join(dir, file);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelLayoutError(dir, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function firstExisting(dir: string, candidates: string[], what: string): string {
  for (const c of candidates) if (existsSync(join(dir, c))) return join(dir, c);
  throw new ModelLayoutError(dir, `no ${what} (looked for ${candidates.join(', ')})`);
}

function maxTokensOf(dir: string, fallback: number): number {
  const cfg = existsSync(join(dir, 'tokenizer_config.json')) ? readJson(dir, 'tokenizer_config.json') : {};
  const m = cfg['model_max_length'];
  // transformers writes a huge sentinel when the tokenizer has no limit of its own
  return typeof m === 'number' && m > 0 && m < 1_000_000 ? m : fallback;
}

/** What a layout reader finds; the directory scan adds name, directory and file hashes. */
type LayoutSpec = Omit<ModelSpec, 'name' | 'dir' | 'files'>;

/**
 * Hugging Face CLIP export: config.json (model_type clip), preprocessor_config.json, tokenizer.json and
 * tokenizer_config.json, and the graphs in one of the two layouts exporters write:
 * - split towers, vision_model.onnx and text_model.onnx (under onnx/ as transformers.js and optimum's split CLIP
 *   configs lay them out, or beside the config);
 * - one combined model.onnx (`optimum-cli export onnx --task feature-extraction` or
 *   zero-shot-image-classification): input_ids, attention_mask and pixel_values in, image_embeds and text_embeds
 *   (and logits) out. Both towers then name the same file; the engine opens it once and feeds the other tower a
 *   minimal dummy input (see EmbeddingEngine).
 */
function clipSpec(dir: string, config: Record<string, unknown>): LayoutSpec {
  const textConfig = (config['text_config'] ?? {}) as Record<string, unknown>;
  const maxPositions = Number(textConfig['max_position_embeddings'] ?? 77);
  const split = existsSync(join(dir, 'onnx/vision_model.onnx')) || existsSync(join(dir, 'vision_model.onnx'));
  const combined = split ? undefined : firstExisting(dir, ['model.onnx', 'onnx/model.onnx'], 'vision_model.onnx + text_model.onnx, or a combined model.onnx');
  return {
    kind: 'image-text',
    layout: 'hf-clip',
    dimension: Number(config['projection_dim'] ?? 512),
    image: {
      onnx: combined ?? firstExisting(dir, ['onnx/vision_model.onnx', 'vision_model.onnx'], 'vision tower'),
      input: 'pixel_values',
      output: 'image_embeds',
      preprocessing: fromHfImageProcessorConfig(readJson(dir, 'preprocessor_config.json')),
    },
    text: {
      onnx: combined ?? firstExisting(dir, ['onnx/text_model.onnx', 'text_model.onnx'], 'text tower'),
      ...tokenizerFiles(dir),
      maxTokens: Math.min(maxTokensOf(dir, maxPositions), maxPositions),
      pooling: 'projected',
      output: 'text_embeds',
    },
  };
}

function tokenizerFiles(dir: string): Pick<TextTower, 'tokenizerJson' | 'tokenizerConfig'> {
  return {
    tokenizerJson: firstExisting(dir, ['tokenizer.json'], 'tokenizer.json'),
    tokenizerConfig: firstExisting(dir, ['tokenizer_config.json'], 'tokenizer_config.json'),
  };
}

/** timm export: config.json with architecture and pretrained_cfg (the eval preprocessing), model.onnx of pooled features. */
function timmSpec(dir: string, config: Record<string, unknown>): LayoutSpec {
  const image: ImageTower = {
    onnx: firstExisting(dir, ['model.onnx', 'onnx/model.onnx'], 'model.onnx'),
    input: 'pixel_values',
    output: 'features',
    preprocessing: fromTimmPretrainedCfg(config['pretrained_cfg'] as Record<string, unknown>),
  };
  return { kind: 'image-only', layout: 'timm', dimension: Number(config['num_features']), image };
}

/** sentence-transformers export: modules.json, 1_Pooling/config.json (mean pooling), tokenizer files, onnx/model.onnx of token states. */
function sentenceSpec(dir: string): LayoutSpec {
  const modules = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8')) as Array<{ type: string; path: string }>;
  const pooling = modules.find((m) => m.type.endsWith('.Pooling'));
  if (!pooling) throw new ModelLayoutError(dir, 'modules.json has no Pooling module');
  const poolCfg = readJson(join(dir, pooling.path), 'config.json');
  if (poolCfg['pooling_mode_mean_tokens'] !== true) {
    throw new ModelLayoutError(dir, 'only mean pooling (pooling_mode_mean_tokens) is supported');
  }
  const stCfg = existsSync(join(dir, 'sentence_bert_config.json')) ? readJson(dir, 'sentence_bert_config.json') : {};
  const config = readJson(dir, 'config.json');
  const maxPositions = Number(config['max_position_embeddings'] ?? 512);
  const maxSeq = typeof stCfg['max_seq_length'] === 'number' ? stCfg['max_seq_length'] : maxTokensOf(dir, maxPositions);
  const text: TextTower = {
    onnx: firstExisting(dir, ['onnx/model.onnx', 'model.onnx'], 'onnx/model.onnx'),
    ...tokenizerFiles(dir),
    maxTokens: Math.min(maxSeq, maxPositions),
    pooling: 'mean',
    output: 'last_hidden_state',
  };
  return { kind: 'text-only', layout: 'sentence-transformers', dimension: Number(poolCfg['word_embedding_dimension']), text };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Recognise the layout of one model directory; the model's name is the directory's name unless given. */
export async function readModelDir(dir: string, name: string): Promise<ModelSpec> {
  let spec: LayoutSpec;
  if (existsSync(join(dir, 'modules.json'))) spec = sentenceSpec(dir);
  else if (existsSync(join(dir, 'config.json'))) {
    const config = readJson(dir, 'config.json');
    if (config['model_type'] === 'clip') spec = clipSpec(dir, config);
    else if (typeof config['architecture'] === 'string' && config['pretrained_cfg']) spec = timmSpec(dir, config);
    else throw new ModelLayoutError(dir, 'config.json is neither a Hugging Face CLIP config nor a timm config');
  } else throw new ModelLayoutError(dir, 'no config.json or modules.json: not a model directory');
  if (!Number.isInteger(spec.dimension) || spec.dimension <= 0) throw new ModelLayoutError(dir, `bad embedding dimension ${spec.dimension}`);
  const onnx = [...new Set([spec.image?.onnx, spec.text?.onnx])].filter((p): p is string => p !== undefined);
  const files = await Promise.all(
    onnx.map(async (path) => ({ name: relative(dir, path), sha256: await sha256File(path), sizeBytes: statSync(path).size })),
  );
  return { name, dir, ...spec, files };
}

/** Every model directory directly under `root`, sorted by name. Directories that are not models fail loudly. */
export async function scanModels(root: string): Promise<ModelSpec[]> {
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
  return Promise.all(dirs.map((d) => readModelDir(join(root, d), d)));
}
