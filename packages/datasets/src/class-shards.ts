import { missingImage, parseJsonMember, pickImage } from './captioned-shards.js';
import { DatasetError } from './errors.js';
import type { EncodedImage, PoolSampleBase } from './image-decode.js';
import { errorRecord, sampleRecord, type PoolRecord } from './pool-record.js';
import { readWebDataset, type WebDatasetOptions, type WebDatasetSample } from './webdataset-reader.js';

export interface ClassShardsOptions extends WebDatasetOptions {
  /**
   * The label space: wnids in class-index order (the sorted ImageNet-1k wnids for ImageNet++). When
   * given, indices are range-checked and a sample's wnid is filled in from its index.
   * @default undefined
   */
  readonly classes?: readonly string[];
  /**
   * JSON fields tried, in order, for the class index when a sample has no `.cls` member.
   * @default ['class_index', 'idx', 'cls', 'label', 'target']
   */
  readonly jsonClassFields?: readonly string[];
}

/** A labelled image from released ImageNet++ shift shards or any shift a ShiftWriter wrote. */
export interface ClassSample extends PoolSampleBase {
  readonly key: string;
  readonly image: EncodedImage;
  readonly classIndex: number;
  /** From the sample's JSON, else from `classes[classIndex]`, else undefined. */
  readonly wnid: string | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

const DEFAULT_JSON_CLASS_FIELDS = ['class_index', 'idx', 'cls', 'label', 'target'];

/**
 * Labelled pool over WebDataset shards whose samples carry a class index in `key.cls` (what timm's wds
 * reader trains on) or in `key.json`. Samples without a usable label yield MISSING_LABEL, indices or
 * wnids outside `classes` yield UNKNOWN_CLASS; both are skipped and the read goes on.
 */
export async function* readClassShards(options: ClassShardsOptions): AsyncGenerator<PoolRecord<ClassSample>> {
  const fields = options.jsonClassFields ?? DEFAULT_JSON_CLASS_FIELDS;
  const indexOfWnid = options.classes === undefined ? undefined : new Map(options.classes.map((wnid, index) => [wnid, index]));
  for await (const record of readWebDataset(options)) {
    if (!record.ok) {
      yield record;
      continue;
    }
    const parsed = toClassSample(record.sample, fields, options.classes, indexOfWnid);
    yield parsed instanceof DatasetError ? errorRecord(parsed, record.cursor) : sampleRecord(parsed, record.cursor);
  }
}

function toClassSample(
  sample: WebDatasetSample,
  fields: readonly string[],
  classes: readonly string[] | undefined,
  indexOfWnid: ReadonlyMap<string, number> | undefined,
): ClassSample | DatasetError {
  const where = { file: sample.shard, key: sample.key };
  const image = pickImage(sample);
  if (image === undefined) return missingImage(sample);
  const metadata = parseJsonMember(sample);
  if (metadata instanceof DatasetError) return metadata;
  const jsonWnid = typeof metadata?.['wnid'] === 'string' ? metadata['wnid'] : undefined;

  let classIndex: number | undefined;
  const cls = sample.files.get('cls');
  if (cls !== undefined) {
    const text = cls.toString('latin1').trim();
    if (!/^\d+$/.test(text)) return new DatasetError('MISSING_LABEL', `${sample.key}.cls is not a class index: ${JSON.stringify(text.slice(0, 40))}`, where);
    classIndex = Number(text);
  } else {
    for (const field of fields) {
      const value = metadata?.[field];
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
        classIndex = value;
        break;
      }
    }
    if (classIndex === undefined && jsonWnid !== undefined && indexOfWnid !== undefined) {
      classIndex = indexOfWnid.get(jsonWnid);
      if (classIndex === undefined) return new DatasetError('UNKNOWN_CLASS', `wnid ${jsonWnid} is not in the label space`, where);
    }
  }
  if (classIndex === undefined) {
    return new DatasetError('MISSING_LABEL', `sample has no .cls member and its json has none of ${fields.join(', ')}`, where);
  }
  if (classes !== undefined) {
    const expected = classes[classIndex];
    if (expected === undefined) {
      return new DatasetError('UNKNOWN_CLASS', `class index ${classIndex} is outside the ${classes.length} classes`, where);
    }
    if (jsonWnid !== undefined && jsonWnid !== expected) {
      return new DatasetError('UNKNOWN_CLASS', `class index ${classIndex} is ${expected} but the json says ${jsonWnid}`, where);
    }
  }
  const wnid = jsonWnid ?? classes?.[classIndex];
  return { sourceId: sample.key, file: sample.shard, key: sample.key, image, classIndex, wnid, metadata };
}
