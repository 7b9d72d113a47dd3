// Turning environment strings into typed option values, and checking values from any source.
import type { ConfigOption } from './config-schema.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Parses the raw environment string of an option, then validates the result. */
export function parseEnvValue(option: ConfigOption, raw: string): Parsed {
  const parsed = parseRaw(option, raw);
  if (!parsed.ok) return parsed;
  const reason = checkValue(option, parsed.value);
  return reason === undefined ? parsed : { ok: false, reason };
}

function parseRaw(option: ConfigOption, raw: string): Parsed {
  const text = raw.trim();
  switch (option.type) {
    case 'string':
      // Strings are taken as written: surrounding blanks may be meaningful (separators, prefixes).
      return { ok: true, value: raw };
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) return { ok: false, reason: 'is not an integer' };
      return { ok: true, value: Number(text) };
    case 'number': {
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) return { ok: false, reason: 'is not a finite number' };
      return { ok: true, value };
    }
    case 'bool': {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false, reason: 'is not a boolean (use true/false, 1/0, yes/no or on/off)' };
    }
    case 'list':
      return {
        ok: true,
        value: raw
          .split(option.separator ?? ',')
          .map((item) => item.trim())
          .filter((item) => item !== ''),
      };
    case 'enum': {
      const match = option.values.find((v) => v === text) ?? option.values.find((v) => v.toLowerCase() === text.toLowerCase());
      return match === undefined ? { ok: true, value: text } : { ok: true, value: match };
    }
    case 'url':
      return { ok: true, value: text };
  }
}

/** Why `value` is not acceptable for `option`, or undefined when it is. Used for every source. */
export function checkValue(option: ConfigOption, value: unknown): string | undefined {
  switch (option.type) {
    case 'string':
      if (typeof value !== 'string') return 'is not a string';
      if (option.pattern && !new RegExp(`^(?:${option.pattern.source})$`, option.pattern.flags.replace(/[gy]/g, '')).test(value)) {
        return `does not match ${String(option.pattern)}`;
      }
      return undefined;
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return 'is not an integer';
      return checkRange(option.min, option.max, value);
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'is not a finite number';
      return checkRange(option.min, option.max, value);
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'is not a boolean';
    case 'list': {
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) return 'is not a list of strings';
      const allowed = option.values;
      const bad = allowed ? value.filter((item: string) => !allowed.includes(item)) : [];
      return bad.length > 0 ? `has items ${bad.join(', ')} not among ${allowed?.join(', ')}` : undefined;
    }
    case 'enum':
      return typeof value === 'string' && option.values.includes(value)
        ? undefined
        : `is not one of ${option.values.join(', ')}`;
    case 'url': {
      if (typeof value !== 'string') return 'is not a URL string';
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return 'is not an absolute URL';
      }
      if (option.protocols && !option.protocols.includes(url.protocol)) {
        return `has protocol ${url.protocol}, expected ${option.protocols.join(' or ')}`;
      }
      return undefined;
    }
  }
}

function checkRange(min: number | undefined, max: number | undefined, value: number): string | undefined {
  if (min !== undefined && value < min) return `is below the minimum ${min}`;
  if (max !== undefined && value > max) return `is above the maximum ${max}`;
  return undefined;
}
