import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import sharp from 'sharp';
import { DatasetError, describeCause, type ErrorLocation } from './errors.js';
import { byCodePoint } from './image-folder.js';
import type { EncodedImage, PoolSampleBase } from './image-decode.js';
import { mapOrdered } from './ordered-map.js';
import { errorRecord, sampleRecord, validateCursor, type PoolRecord, type ReadOptions } from './pool-record.js';

/** Where Debian's `openclipart-svg` package installs the clip art. */
export const OPENCLIPART_ROOT = '/usr/share/openclipart/svg';

export interface OpenClipartOptions extends ReadOptions {
  /** @default OPENCLIPART_ROOT */
  readonly root?: string;
  /**
   * Rasterise each SVG to a PNG whose longer side is `size` pixels, flattened onto `background`
   * (clip art is mostly transparent, and a dropped alpha channel would turn it black). `false` keeps
   * only the SVG bytes.
   * @default { size: 256, background: '#ffffff' }
   */
  readonly render?: false | { readonly size?: number; readonly background?: string };
  /** SVGs rendered at once (librsvg runs on libuv's thread pool). @default 4 */
  readonly concurrency?: number;
}

/** The metadata openclipart authors filled in, from the RDF block of the SVG. */
export interface SvgMetadata {
  readonly title: string | undefined;
  readonly keywords: readonly string[];
  readonly description: string | undefined;
}

export interface OpenClipartSample extends PoolSampleBase, SvgMetadata {
  /** Path relative to the root, e.g. `animals/bat_orlando_karam_.svg`. */
  readonly sourceId: string;
  /** First folder of the path (`animals`, `food`, …). */
  readonly category: string;
  /** Title then the keywords that differ from it, comma separated: `bat, mammal, animal`. */
  readonly caption: string;
  readonly svg: Buffer;
  /** The rendered PNG; undefined when `render` is false. */
  readonly image: EncodedImage | undefined;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  isArray: (name) => name === 'li' || name === 'Work',
  parseTagValue: false,
  trimValues: true,
});

const METADATA_BLOCK = /<(?:[\w.-]+:)?metadata[\s>][\s\S]*?<\/(?:[\w.-]+:)?metadata\s*>/;

/**
 * Title, keywords and description from an SVG's `<metadata>` RDF (dc:title, dc:subject/rdf:Bag,
 * dc:description), honouring the XML declaration's encoding (a few openclipart files are ISO-8859-1).
 * Throws SVG_INVALID when the bytes are not text in that encoding or the metadata is not XML.
 */
export function parseSvgMetadata(svg: Buffer, where: ErrorLocation = {}): SvgMetadata {
  const declared = /^\s*<\?xml[^>]*encoding=["']([\w.-]+)["']/i.exec(svg.toString('latin1', 0, 256))?.[1]?.toLowerCase() ?? 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(declared, { fatal: true }).decode(svg);
  } catch (cause) {
    throw new DatasetError('SVG_INVALID', `SVG is not valid ${declared} text`, { ...where, cause });
  }
  const block = METADATA_BLOCK.exec(text)?.[0];
  if (block === undefined) return { title: undefined, keywords: [], description: undefined };
  let tree: unknown;
  try {
    tree = parser.parse(block, true);
  } catch (cause) {
    throw new DatasetError('SVG_INVALID', `SVG metadata is not well-formed XML: ${describeCause(cause)}`, { ...where, cause });
  }
  const work = asArray(child(child(child(tree, 'metadata'), 'RDF'), 'Work'))[0];
  const keywords = asArray(child(child(child(work, 'subject'), 'Bag'), 'li'))
    .map(textOf)
    .filter((keyword): keyword is string => keyword !== undefined);
  return { title: textOf(child(work, 'title')), keywords, description: textOf(child(work, 'description')) };
}

/** `title, keyword, keyword` with keywords equal to the title or to each other (case-insensitive) left out. */
export function captionOf(metadata: SvgMetadata): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const part of [metadata.title, ...metadata.keywords]) {
    const trimmed = part?.trim();
    if (trimmed === undefined || trimmed === '' || seen.has(trimmed.toLowerCase())) continue;
    seen.add(trimmed.toLowerCase());
    parts.push(trimmed);
  }
  return parts.join(', ');
}

/**
 * Changes whenever renderSvg draws some SVGs differently, so that caches of rendered pools (the curator's pool
 * embeddings and index) key on it and do not serve vectors of older renders. 2: pages in physical units without a
 * viewBox drawn as a browser draws them (withViewBox). 3: renderClipart refuses a render of one flat colour.
 */
export const SVG_RENDER_VERSION = 3;

/** Rasterises an SVG to a PNG whose longer side is `size` pixels, flattened onto `background`. */
export async function renderSvg(svg: Buffer, size: number, background = '#ffffff'): Promise<Buffer> {
  svg = withViewBox(svg);
  // Reading the size renders nothing, so the pixel limit (meant for rasters) does not apply to it.
  const { width, height } = await sharp(svg, { limitInputPixels: false }).metadata();
  if (width === undefined || height === undefined || width < 1 || height < 1) throw new Error('SVG has no usable width and height');
  // librsvg renders at `density` dpi (72 = the SVG's own size): render near the target size rather
  // than upscaling a small raster.
  const density = Math.min(100_000, Math.max(1, (72 * size) / Math.max(width, height)));
  return sharp(svg, { density })
    .resize({ width: size, height: size, fit: 'inside' })
    .flatten({ background })
    .png()
    .toBuffer();
}

/**
 * renderSvg for clip art as a pool image (readOpenClipart, the curator's candidates): a render of one flat colour
 * throws, since nothing of the drawing is on its page (drawn off the page, or gradient definitions alone) and as
 * an image of its caption it is junk. 125 of the 7,452 openclipart SVGs that render at 256 px (SVG_INVALID).
 */
export async function renderClipart(svg: Buffer, size: number, background = '#ffffff'): Promise<Buffer> {
  const png = await renderSvg(svg, size, background);
  if (await isOneFlatColour(png)) throw new Error('the SVG renders to one flat colour: nothing of its drawing is on its page');
  return png;
}

/** Whether every pixel of an image has the same colour (red, green and blue each one value). */
export async function isOneFlatColour(image: Buffer): Promise<boolean> {
  const { channels } = await sharp(image).stats();
  return channels.slice(0, 3).every((c) => c.min === c.max);
}

/**
 * Streams Debian's openclipart-svg collection as an image-text pool: caption from the SVG's title and
 * keywords, image rendered to PNG. An SVG that does not parse or render yields SVG_INVALID, one without
 * a title or keywords MISSING_CAPTION; the read goes on.
 *
 * Cursor: `shard` is always 0, `offset` the file's position in the sorted list of SVG paths (listed up
 * front: some thousands of names). Symlinks that point back into the collection are duplicates and
 * are left out.
 */
export function readOpenClipart(options: OpenClipartOptions = {}): AsyncGenerator<PoolRecord<OpenClipartSample>> {
  const root = options.root ?? OPENCLIPART_ROOT;
  const render = options.render === false ? undefined : { size: 256, background: '#ffffff', ...options.render };
  if (render !== undefined && (!Number.isInteger(render.size) || render.size < 1)) {
    throw new DatasetError('INVALID_OPTION', `render.size must be a positive integer, got ${render.size}`);
  }
  const parsed = readParsed(root, options);
  if (render === undefined) return parsed;
  return mapOrdered(
    parsed,
    async (record): Promise<PoolRecord<OpenClipartSample>> => {
      if (!record.ok) return record;
      const { sample } = record;
      try {
        const bytes = await renderClipart(sample.svg, render.size, render.background);
        return sampleRecord({ ...sample, image: { bytes, format: 'png' } }, record.cursor);
      } catch (cause) {
        return errorRecord(
          new DatasetError('SVG_INVALID', `SVG does not render: ${describeCause(cause)}`, { file: sample.file, key: sample.sourceId, cause }),
          record.cursor,
        );
      }
    },
    options.concurrency ?? 4,
  );
}

async function* readParsed(root: string, options: ReadOptions): AsyncGenerator<PoolRecord<OpenClipartSample>> {
  const files = await listSvgs(root);
  const from = validateCursor(options.resumeFrom, 1);
  if (from.shard >= 1) return;
  for (let index = from.offset; index < files.length; index++) {
    const file = files[index] ?? '';
    const sourceId = relative(root, file).split(sep).join('/');
    const cursor = index + 1 < files.length ? { shard: 0, offset: index + 1 } : { shard: 1, offset: 0 };
    options.signal?.throwIfAborted();
    try {
      const svg = await readFile(file);
      const metadata = parseSvgMetadata(svg, { file, key: sourceId });
      const caption = captionOf(metadata);
      if (caption === '') {
        yield errorRecord(new DatasetError('MISSING_CAPTION', 'SVG metadata has no title or keywords', { file, key: sourceId }), cursor);
        continue;
      }
      const category = sourceId.includes('/') ? (sourceId.split('/')[0] ?? '') : '';
      yield sampleRecord({ sourceId, file, category, caption, ...metadata, svg, image: undefined }, cursor);
    } catch (cause) {
      const error =
        cause instanceof DatasetError ? cause : new DatasetError('FILE_UNREADABLE', `cannot read SVG: ${describeCause(cause)}`, { file, key: sourceId, cause });
      yield errorRecord(error, cursor);
    }
  }
}

async function listSvgs(root: string): Promise<string[]> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (cause) {
    throw new DatasetError('FILE_UNREADABLE', `no openclipart collection here (apt-get install openclipart-svg): ${describeCause(cause)}`, {
      file: root,
      cause,
    });
  }
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && entry.name.toLowerCase().endsWith('.svg')) out.push(path);
      else if (entry.isSymbolicLink() && entry.name.toLowerCase().endsWith('.svg')) {
        const target = await realpath(path).catch(() => undefined);
        if (target === undefined || target.startsWith(realRoot + sep)) continue;
        if ((await stat(target)).isFile()) out.push(path);
      }
    }
  };
  await walk(root);
  return out.sort(byCodePoint);
}

function child(node: unknown, name: string): unknown {
  if (Array.isArray(node)) return child(node[0], name);
  return node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[name] : undefined;
}

function asArray(node: unknown): unknown[] {
  if (node === undefined || node === null) return [];
  return Array.isArray(node) ? node : [node];
}

function textOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node.trim() === '' ? undefined : node.trim();
  if (typeof node === 'number') return String(node);
  if (node !== null && typeof node === 'object') return textOf((node as Record<string, unknown>)['#text']);
  return undefined;
}

/** CSS px per unit of a length in an SVG's root width and height (CSS: 96 px to the inch). */
const CSS_PX_PER_UNIT: Readonly<Record<string, number>> = { mm: 96 / 25.4, cm: 96 / 2.54, in: 96, pt: 96 / 72, pc: 16, px: 1, '': 1 };
const PHYSICAL_UNITS = new Set(['mm', 'cm', 'in', 'pt', 'pc']);

/**
 * The SVG with a viewBox on its root when it has none and its width and height are physical lengths (mm, cm, in,
 * pt, pc): `0 0 <width> <height>` in CSS px, which is how a browser draws it (user units are CSS px, 1/96 in).
 * Other SVGs come back unchanged (the same buffer). librsvg converts physical lengths at the density it renders
 * at but draws user units 1:1, so such a drawing rendered at any density but 96 came out cropped, and at the few
 * dpi a 256-pixel render of an A4 page takes, blank: 502 of the 7,452 openclipart SVGs rendered to one flat
 * colour before (old Inkscape drawings: width="210mm" height="297mm", no viewBox).
 */
export function withViewBox(svg: Buffer): Buffer {
  const text = svg.toString('latin1'); // byte for byte, whatever the document's encoding
  const root = /<svg\b[^>]*>/.exec(text);
  if (root === null || /\sviewBox\s*=/.test(root[0])) return svg;
  const length = (name: string): { value: number; unit: string } | undefined => {
    const m = new RegExp(`\\s${name}\\s*=\\s*(["'])\\s*([0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\\s*(mm|cm|in|pt|pc|px)?\\s*\\1`).exec(root[0]);
    return m === null ? undefined : { value: Number(m[2]), unit: m[3] ?? '' };
  };
  const width = length('width');
  const height = length('height');
  if (width === undefined || height === undefined || !(width.value > 0 && height.value > 0)) return svg;
  if (!PHYSICAL_UNITS.has(width.unit) && !PHYSICAL_UNITS.has(height.unit)) return svg;
  const css = (l: { value: number; unit: string }): string => String(Math.round(l.value * CSS_PX_PER_UNIT[l.unit]! * 1000) / 1000);
  const at = root.index + '<svg'.length;
  return Buffer.from(`${text.slice(0, at)} viewBox="0 0 ${css(width)} ${css(height)}"${text.slice(at)}`, 'latin1');
}
