import { DatasetError, describeCause } from './errors.js';
import { sniffImageFormat, type EncodedImage, type PoolSampleBase } from './image-decode.js';
import { errorRecord, sampleRecord, type PoolRecord } from './pool-record.js';
import { readWebDataset, type WebDatasetOptions, type WebDatasetSample } from './webdataset-reader.js';

/** An image-text pair from img2dataset-style shards (`key.jpg` + `key.txt` + optional `key.json`). */
export interface CaptionedSample extends PoolSampleBase {
  /** The sample key; img2dataset keys are unique across a whole download. */
  readonly key: string;
  readonly image: EncodedImage;
  /** The `.txt` member, UTF-8, surrounding whitespace trimmed. */
  readonly caption: string;
  /** The parsed `.json` member (img2dataset puts url, width, height, similarity there), if any. */
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Image-text pool over WebDataset / img2dataset shards (see readWebDataset for shard patterns and
 * cursors). Records that cannot become a pair are yielded as errors and skipped: MISSING_IMAGE,
 * MISSING_CAPTION, CAPTION_ENCODING (a caption that is not UTF-8 is skipped rather than passed on with
 * replacement characters, so no filter ever matches a mangled caption), INVALID_METADATA.
 */
export async function* readCaptionedShards(options: WebDatasetOptions): AsyncGenerator<PoolRecord<CaptionedSample>> {
  for await (const record of readWebDataset(options)) {
    if (!record.ok) {
      yield record;
      continue;
    }
    const parsed = toCaptioned(record.sample);
    yield parsed instanceof DatasetError ? errorRecord(parsed, record.cursor) : sampleRecord(parsed, record.cursor);
  }
}

function toCaptioned(sample: WebDatasetSample): CaptionedSample | DatasetError {
  const where = { file: sample.shard, key: sample.key };
  const image = pickImage(sample);
  if (image === undefined) return missingImage(sample);
  const text = sample.files.get('txt');
  if (text === undefined) {
    return new DatasetError('MISSING_CAPTION', `sample has no .txt caption (members: ${memberList(sample)})`, where);
  }
  let caption: string;
  try {
    caption = utf8.decode(text).trim();
  } catch (cause) {
    return new DatasetError('CAPTION_ENCODING', `caption ${sample.key}.txt is not valid UTF-8; sample skipped`, { ...where, cause });
  }
  const metadata = parseJsonMember(sample);
  if (metadata instanceof DatasetError) return metadata;
  return { sourceId: sample.key, file: sample.shard, key: sample.key, image, caption, metadata };
}

export function pickImage(sample: WebDatasetSample): EncodedImage | undefined {
  for (const extension of IMAGE_EXTENSIONS) {
    const bytes = sample.files.get(extension);
    if (bytes !== undefined) return { bytes, format: sniffImageFormat(bytes) };
  }
  return undefined;
}

export function missingImage(sample: WebDatasetSample): DatasetError {
  return new DatasetError('MISSING_IMAGE', `sample has no image member (${IMAGE_EXTENSIONS.join('/')}); members: ${memberList(sample)}`, {
    file: sample.shard,
    key: sample.key,
  });
}

export function parseJsonMember(sample: WebDatasetSample): Record<string, unknown> | undefined | DatasetError {
  const bytes = sample.files.get('json');
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (cause) {
    return new DatasetError('INVALID_METADATA', `${sample.key}.json does not parse: ${describeCause(cause)}`, {
      file: sample.shard,
      key: sample.key,
      cause,
    });
  }
}

function memberList(sample: WebDatasetSample): string {
  return [...sample.files.keys()].map((extension) => `.${extension}`).join(', ') || 'none';
}
