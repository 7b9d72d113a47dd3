import { createHash } from 'node:crypto';

/** What makes a curated sample itself: the same three always give the same id, on any machine. */
export interface SampleIdentity {
  /** Curation strategy, e.g. `caption-filter`, `img2img-knn`, `sd-txt2img`. */
  readonly strategy: string;
  /** The item's id in its pool (sample key, image id, relative path, source image for variations). */
  readonly sourceId: string;
  /** Generator seed, for generated images: one source and prompt gives one image per seed. */
  readonly seed?: number;
}

/**
 * 32 hex digits (128 bits of SHA-256) over strategy, source id and seed. Used as the sample's
 * WebDataset key too: hex has no dots or slashes, which webdataset would read as key separators.
 */
export function sampleId(identity: SampleIdentity): string {
  return createHash('sha256')
    .update(JSON.stringify([identity.strategy, identity.sourceId, identity.seed ?? null]))
    .digest('hex')
    .slice(0, 32);
}

/** JSON with object keys sorted at every level, so equal values always serialise the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** 16 hex digits identifying a parameter set, independent of key order. */
export function paramsHash(params: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(params)).digest('hex').slice(0, 16);
}
