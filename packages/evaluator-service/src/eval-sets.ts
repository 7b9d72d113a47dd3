// Evaluation sets: ImageFolder trees (ImageNet val/-V2/-Sketch/-A/-R, ObjectNet, ImageNet-C's
// <corruption>/<severity>/<wnid>/ layout) and WebDataset shards with a class index per sample, each read with
// SELECT's transform for that set (or the model's own). Labels come out as positions of the set's classes.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readClassShards, readImageFolder, type Cursor } from '@select/datasets';
import { ServiceError } from '@select/platform';
import type { ImageNetTaxonomy, SubsetName } from '@select/taxonomy';
import { decodeImage, resizeAndCrop, writeTensor, type ImagePreprocessing, type RgbImage } from '@select/vision';
import { EvaluatorInputError } from './errors.js';

export const EVAL_FORMATS = ['imagefolder', 'webdataset', 'imagenet-c'] as const;
export type EvalFormat = (typeof EVAL_FORMATS)[number];
export const CLASS_SUBSETS = ['', 'imagenet-a', 'imagenet-r', 'objectnet', 'eval-classes'] as const;

/** A normalised evaluation set of a request. ImageNet-C is expanded into one part per corruption and severity. */
export interface EvalSetSpec {
  name: string;
  uri: string;
  format: 'imagefolder' | 'webdataset';
  classSubset: (typeof CLASS_SUBSETS)[number];
  classMappingUri: string;
  preprocessing: 'select' | 'model';
  maxImages: number;
  /** 'imagenet-c' for the parts of an ImageNet-C set (their mean is reported under that name). */
  group: string;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** SELECT's base/OOD transform: Resize(256) bilinear, CenterCrop(224), ImageNet mean/std. */
export const SELECT_EVAL_TRANSFORM: ImagePreprocessing = {
  resize: { mode: 'shortest-edge', size: 256 },
  interpolation: 'bilinear',
  crop: { width: 224, height: 224, offset: 'round-half-even' },
  rescale: 1 / 255,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
};

/** ObjectNet after its 2-pixel border crop: Resize(224), CenterCrop(224). */
export const SELECT_OBJECTNET_TRANSFORM: ImagePreprocessing = { ...SELECT_EVAL_TRANSFORM, resize: { mode: 'shortest-edge', size: 224 } };

/** How one set turns encoded bytes into a CHW float tensor. */
export interface SetTransform {
  /** Output height and width. */
  height: number;
  width: number;
  describe: string;
  apply(bytes: Uint8Array, out: Float32Array, offset: number): Promise<void>;
}

function cropBorder(image: RgbImage, border: number): RgbImage {
  const width = image.width - 2 * border;
  const height = image.height - 2 * border;
  if (width < 1 || height < 1) throw new EvaluatorInputError(`image ${image.width}x${image.height} is too small for a ${border}-pixel border crop`);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(image.data.subarray(((y + border) * image.width + border) * 3, ((y + border) * image.width + border + width) * 3), y * width * 3);
  return { data, width, height };
}

/**
 * The transform of a set: SELECT's (by set name: ObjectNet crops its border first; ImageNet-C and Stylized-
 * ImageNet are not resized, so their images must already have the model's input size) or the model's own.
 */
export function transformFor(set: EvalSetSpec, model: ImagePreprocessing | undefined, inputSize: { height: number; width: number } | undefined): SetTransform {
  if (set.preprocessing === 'model') {
    if (!model) throw ServiceError.failedPrecondition(`set ${set.name} asks for the model's own preprocessing, but the model has no pretrained_cfg in its config.json`);
    const size = model.crop ?? (model.resize.mode === 'fixed' ? model.resize : undefined);
    if (!size) throw ServiceError.failedPrecondition("the model's preprocessing has no fixed output size");
    return standard(model, size.height, size.width, 'the model’s pretrained_cfg');
  }
  const name = set.name.toLowerCase();
  if (set.group === 'imagenet-c' || name.startsWith('imagenet-c') || name.includes('stylized')) {
    const height = inputSize?.height ?? 224;
    const width = inputSize?.width ?? 224;
    return {
      height,
      width,
      describe: 'no resize (ToTensor, ImageNet mean/std)',
      async apply(bytes, out, offset) {
        const { image } = await decodeImage(bytes);
        if (image.width !== width || image.height !== height) {
          throw new EvaluatorInputError(`image is ${image.width}x${image.height}; ${set.name} is evaluated without resizing, so images must be ${width}x${height}`);
        }
        writeTensor(image, { ...SELECT_EVAL_TRANSFORM, crop: null, resize: { mode: 'fixed', width, height } }, out, offset);
      },
    };
  }
  if (set.classSubset === 'objectnet' || name.startsWith('objectnet')) {
    return {
      height: 224,
      width: 224,
      describe: '2-pixel border crop, Resize(224) bilinear, CenterCrop(224)',
      async apply(bytes, out, offset) {
        const { image } = await decodeImage(bytes);
        writeTensor(resizeAndCrop(cropBorder(image, 2), SELECT_OBJECTNET_TRANSFORM), SELECT_OBJECTNET_TRANSFORM, out, offset);
      },
    };
  }
  return standard(SELECT_EVAL_TRANSFORM, 224, 224, 'Resize(256) bilinear, CenterCrop(224)');
}

function standard(spec: ImagePreprocessing, height: number, width: number, describe: string): SetTransform {
  return {
    height,
    width,
    describe,
    async apply(bytes, out, offset) {
      const { image } = await decodeImage(bytes);
      writeTensor(resizeAndCrop(image, spec), spec, out, offset);
    },
  };
}

/** One image of a set: its label position, or the reason it could not be read. */
export type EvalRecord =
  | { ok: true; key: string; bytes: Uint8Array; label: number; cursor: Cursor }
  | { ok: false; key: string; message: string; cursor: Cursor };

export interface OpenedEvalSet {
  spec: EvalSetSpec;
  /** The set's classes in label-position order (wnids; ObjectNet class names). */
  classes: string[];
  /** For ObjectNet: the ImageNet outputs of each class. */
  mapping: Map<string, number[]> | undefined;
  /** Files the set will read (ImageFolder: counted up front; WebDataset: 0, unknown). */
  total: number;
  records(resumeFrom: Cursor | undefined, signal: AbortSignal): AsyncGenerator<EvalRecord>;
}

async function classFolders(root: string, name: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (cause) {
    throw ServiceError.notFound(`evaluation set ${name}: cannot read ${root} (${(cause as Error).message})`, { cause });
  }
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (folders.length === 0) throw ServiceError.failedPrecondition(`evaluation set ${name} at ${root} is empty: no class folders`);
  return folders;
}

async function readMapping(file: string, taxonomy: ImageNetTaxonomy): Promise<Map<string, number[]>> {
  if (!file) throw ServiceError.invalidArgument('ObjectNet needs class_mapping_uri: a JSON object from ObjectNet class folder to ImageNet wnids');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new EvaluatorInputError(`cannot read the class mapping ${file}: ${(cause as Error).message}`, { cause });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EvaluatorInputError(`class mapping ${file} must be a JSON object of class -> [wnid or index, ...]`);
  const out = new Map<string, number[]>();
  for (const [name, targets] of Object.entries(raw as Record<string, unknown>)) {
    const list = Array.isArray(targets) ? targets : [targets];
    out.set(
      name,
      list.map((t) => {
        if (typeof t === 'number') return t;
        if (typeof t === 'string' && taxonomy.hasClass(t)) return taxonomy.classByWnid(t).index;
        throw new EvaluatorInputError(`class mapping ${file}: ${name} -> ${JSON.stringify(t)} is neither an ImageNet wnid nor an index`);
      }),
    );
  }
  return out;
}

async function shardList(uri: string): Promise<string | string[]> {
  if (existsSync(uri) && (await stat(uri)).isDirectory()) {
    const shards = (await readdir(uri)).filter((f) => f.endsWith('.tar')).sort().map((f) => join(uri, f));
    if (shards.length === 0) throw ServiceError.failedPrecondition(`evaluation set at ${uri} holds no .tar shards`);
    return shards;
  }
  return uri;
}

/** Opens a normalised set: lists its classes (and mapping) so the label space can be built before reading. */
export async function openEvalSet(spec: EvalSetSpec, taxonomy: ImageNetTaxonomy): Promise<OpenedEvalSet> {
  const wnids = taxonomy.classes.map((c) => c.wnid);
  const limit = spec.maxImages > 0 ? spec.maxImages : Number.POSITIVE_INFINITY;
  if (spec.format === 'imagefolder') {
    const classes = await classFolders(spec.uri, spec.name);
    const mapping = spec.classSubset === 'objectnet' ? await readMapping(spec.classMappingUri, taxonomy) : undefined;
    const used = mapping ? classes.filter((c) => mapping.has(c)) : classes;
    if (mapping && used.length === 0) throw ServiceError.failedPrecondition(`ObjectNet set ${spec.name}: none of its folders is in the class mapping`);
    let total = 0;
    for (const folder of used) total += (await readdir(join(spec.uri, folder)).catch(() => [])).length;
    return {
      spec,
      classes: used,
      mapping,
      total: Math.min(total, limit),
      async *records(resumeFrom, signal) {
        let n = 0;
        const position = new Map(used.map((c, i) => [c, i]));
        for await (const record of readImageFolder({ root: spec.uri, ...(resumeFrom ? { resumeFrom } : {}), signal })) {
          if (n >= limit) return;
          if (!record.ok) {
            // only the mapped ObjectNet classes are evaluated; other folders are not an error
            yield { ok: false, key: record.error.key ?? record.error.file ?? '', message: record.error.message, cursor: record.cursor };
            continue;
          }
          const label = position.get(record.sample.wnid);
          if (label === undefined) continue;
          n++;
          yield { ok: true, key: record.sample.sourceId, bytes: record.sample.image.bytes, label, cursor: record.cursor };
        }
      },
    };
  }
  const subset = spec.classSubset === 'imagenet-a' || spec.classSubset === 'imagenet-r' ? taxonomy.subset(spec.classSubset as SubsetName) : undefined;
  const classes = subset ? [...subset.wnids] : wnids;
  const shards = await shardList(spec.uri);
  return {
    spec,
    classes,
    mapping: undefined,
    total: 0,
    async *records(resumeFrom, signal) {
      let n = 0;
      for await (const record of readClassShards({ shards, classes: wnids, ...(resumeFrom ? { resumeFrom } : {}), signal })) {
        if (n >= limit) return;
        if (!record.ok) {
          yield { ok: false, key: record.error.key ?? record.error.file ?? '', message: record.error.message, cursor: record.cursor };
          continue;
        }
        const label = subset ? subset.positionOf(record.sample.classIndex) : record.sample.classIndex;
        if (label === undefined) {
          yield { ok: false, key: record.sample.key, message: `class ${record.sample.classIndex} is not in ${spec.classSubset}`, cursor: record.cursor };
          continue;
        }
        n++;
        yield { ok: true, key: record.sample.key, bytes: record.sample.image.bytes, label, cursor: record.cursor };
      }
    },
  };
}

/** ImageNet-C's <root>/<corruption>/<severity>/<wnid>/ tree as one part per corruption and severity. */
export async function expandImageNetC(base: Omit<EvalSetSpec, 'format' | 'group'>): Promise<EvalSetSpec[]> {
  const parts: EvalSetSpec[] = [];
  for (const corruption of await classFolders(base.uri, base.name)) {
    for (const severity of await classFolders(join(base.uri, corruption), `${base.name}/${corruption}`)) {
      parts.push({ ...base, name: `${base.name}/${corruption}/${severity}`, uri: join(base.uri, corruption, severity), format: 'imagefolder', group: base.name });
    }
  }
  return parts;
}
