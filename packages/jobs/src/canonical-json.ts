import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every depth and undefined members left out, so that two requests that
 * mean the same thing give the same text: the input of a job's deterministic id. Bigints are written as
 * decimal strings, byte arrays as base64.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

function canonicalize(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonicalize(v)));
  if (value !== null && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalize((value as { toJSON: () => unknown }).toJSON());
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined && typeof member !== 'function') out[key] = canonicalize(member);
    }
    return out;
  }
  return value;
}

/** `${kind}-${first 24 hex digits of sha256(canonical JSON of the request)}`. */
export function defaultJobId(kind: string, request: unknown): string {
  return `${kind}-${createHash('sha256').update(canonicalJson(request)).digest('hex').slice(0, 24)}`;
}

/** Job ids name state files: letters, digits, '.', '_' and '-', 1..200 characters, not starting with '.'. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;
