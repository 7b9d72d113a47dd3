import { DatasetError } from './errors.js';

const RANGE = /^(-?\d+)\.\.(-?\d+)$/;
const MAX_EXPANSION = 10_000_000;

/**
 * Expands a WebDataset shard pattern the way Python's `braceexpand` (and so webdataset and timm) does:
 * `{00000..00123}.tar` (zero padding kept), `{a,b}`, nesting, several groups, and `::` between
 * independent patterns. A brace group that is neither a range nor a list stays literal.
 */
export function expandShardPattern(pattern: string): string[] {
  const out: string[] = [];
  for (const part of pattern.split('::')) {
    if (part === '') continue;
    expandInto(part, out);
    if (out.length > MAX_EXPANSION) {
      throw new DatasetError('INVALID_OPTION', `shard pattern ${pattern} expands to more than ${MAX_EXPANSION} names`);
    }
  }
  return out;
}

function expandInto(text: string, out: string[]): void {
  const group = firstGroup(text);
  if (group === undefined) {
    out.push(text);
    return;
  }
  const prefix = text.slice(0, group.open);
  const suffix = text.slice(group.close + 1);
  for (const alternative of group.alternatives) expandInto(prefix + alternative + suffix, out);
}

interface Group {
  open: number;
  close: number;
  alternatives: string[];
}

/** The first brace group that expands to something; literal groups like `{x}` are skipped over. */
function firstGroup(text: string): Group | undefined {
  let searchFrom = 0;
  for (;;) {
    const open = text.indexOf('{', searchFrom);
    if (open < 0) return undefined;
    const close = matchingBrace(text, open);
    if (close < 0) return undefined;
    const body = text.slice(open + 1, close);
    const range = RANGE.exec(body);
    if (range) return { open, close, alternatives: expandRange(range[1] ?? '', range[2] ?? '') };
    const parts = splitTopLevelCommas(body);
    if (parts.length > 1) return { open, close, alternatives: parts };
    // `{x}` is literal, but braces inside it may still expand: keep searching inside it.
    searchFrom = open + 1;
  }
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevelCommas(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

function expandRange(from: string, to: string): string[] {
  const a = Number(from);
  const b = Number(to);
  if (Math.abs(b - a) + 1 > MAX_EXPANSION) {
    throw new DatasetError('INVALID_OPTION', `shard range {${from}..${to}} is larger than ${MAX_EXPANSION}`);
  }
  // braceexpand pads when either end is written with a leading zero.
  const padded = /^-?0\d/.test(from) || /^-?0\d/.test(to);
  const width = padded ? Math.max(from.length, to.length) : 0;
  const step = a <= b ? 1 : -1;
  const out: string[] = [];
  for (let i = a; step > 0 ? i <= b : i >= b; i += step) {
    const digits = String(Math.abs(i)).padStart(i < 0 ? width - 1 : width, '0');
    out.push(i < 0 ? `-${digits}` : digits);
  }
  return out;
}
