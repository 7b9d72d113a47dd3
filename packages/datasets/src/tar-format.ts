// The on-disk tar format (POSIX ustar with pax and GNU long-name extensions) shared by the shard
// reader and the shard writer. Python's tarfile, which webdataset and img2dataset use, writes pax
// headers for float mtimes, so a reader that only knows plain ustar misreads real shards.

export const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'link' | 'pax' | 'pax-global' | 'gnu-long-name' | 'gnu-long-link' | 'other';

export interface TarHeader {
  name: string;
  size: number;
  type: TarEntryType;
}

export type HeaderParse = { kind: 'header'; header: TarHeader } | { kind: 'end' } | { kind: 'invalid'; reason: string };

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'directory',
  '1': 'link',
  '2': 'link',
  x: 'pax',
  g: 'pax-global',
  L: 'gnu-long-name',
  K: 'gnu-long-link',
};

export function parseHeader(block: Buffer): HeaderParse {
  if (isZeroBlock(block)) return { kind: 'end' };
  const stored = parseOctal(block, 148, 8);
  if (stored === undefined) return { kind: 'invalid', reason: 'checksum field is not octal' };
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Old writers summed signed chars; tarfile accepts either, so do we.
  if (stored !== unsigned && stored !== signed) {
    return { kind: 'invalid', reason: `header checksum ${stored} does not match ${unsigned}` };
  }
  const size = parseSize(block);
  if (size === undefined) return { kind: 'invalid', reason: 'size field is not a number' };
  let name = cString(block, 0, 100);
  const posixUstar = block.toString('latin1', 257, 263) === 'ustar\0';
  if (posixUstar) {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const type = TYPES[String.fromCharCode(block[156] ?? 0)] ?? 'other';
  return { kind: 'header', header: { name, size, type } };
}

/** Pax extended header records: `<length> <key>=<value>\n`. */
export function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > data.length) break;
    const record = data.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

/** Bytes a member of `size` bytes occupies, header included. */
export function memberBytes(size: number): number {
  return BLOCK + paddedSize(size);
}

export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/**
 * A POSIX ustar header for a regular file. Fields that would make shards differ between runs (owner,
 * time) are fixed so the same samples give byte-identical shards.
 */
export function encodeFileHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new RangeError(`tar member name longer than 100 bytes: ${name}`);
  if (size >= 8 ** 11) throw new RangeError(`tar member ${name} is larger than 8 GiB`);
  nameBytes.copy(block, 0);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, mtimeSeconds);
  block.fill(0x20, 148, 156);
  block.write('0', 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function cString(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function parseOctal(block: Buffer, offset: number, length: number): number | undefined {
  const text = block.toString('latin1', offset, offset + length).replace(/[\0 ]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

function parseSize(block: Buffer): number | undefined {
  const first = block[124] ?? 0;
  if ((first & 0x80) === 0) return parseOctal(block, 124, 12);
  // GNU base-256 for members of 8 GiB and more.
  let value = first & 0x7f;
  for (let i = 125; i < 136; i++) value = value * 256 + (block[i] ?? 0);
  return Number.isSafeInteger(value) ? value : undefined;
}
