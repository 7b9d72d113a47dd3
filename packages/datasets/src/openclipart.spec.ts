import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, makeTempDir, outline } from './fixtures.test-util.js';
import { OPENCLIPART_ROOT, parseSvgMetadata, readOpenClipart, renderClipart, renderSvg, withViewBox } from './openclipart.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

/** The metadata layout openclipart SVGs carry (Inkscape / Creative Commons RDF). */
function clipart(title: string, keywords: string[], body = '<circle cx="50" cy="25" r="20" fill="red"/>', encoding = 'UTF-8'): string {
  return `<?xml version="1.0" encoding="${encoding}"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">
  <metadata>
    <rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <cc:Work rdf:about="">
        <dc:title>${title}</dc:title>
        <dc:description>drawn for a test</dc:description>
        <dc:subject><rdf:Bag>${keywords.map((keyword) => `<rdf:li>${keyword}</rdf:li>`).join('')}</rdf:Bag></dc:subject>
        <dc:creator><cc:Agent><dc:title>Someone Else</dc:title></cc:Agent></dc:creator>
      </cc:Work>
    </rdf:RDF>
  </metadata>
  ${body}
</svg>`;
}

describe('readOpenClipart', () => {
  it('captions each SVG from its title and keywords and renders it to a PNG of the asked size', async () => {
    await mkdir(join(dir, 'animals', 'mammals'), { recursive: true });
    await mkdir(join(dir, 'food'), { recursive: true });
    await writeFile(join(dir, 'animals', 'mammals', 'bat.svg'), clipart('bat', ['mammal', 'Bat', 'animal']));
    // A few openclipart files are ISO-8859-1: "café" must not come out mangled.
    await writeFile(join(dir, 'food', 'cafe.svg'), Buffer.from(clipart('caf\u00e9 au lait', ['drink'], undefined, 'ISO-8859-1'), 'latin1'));
    await writeFile(join(dir, 'food', 'broken.svg'), clipart('broken', ['bad'], '<circle cx="50" cy="25" r="20" fill="red">'));
    await writeFile(join(dir, 'food', 'untitled.svg'), clipart('', [], undefined));
    // Debian ships category folders that symlink into others; those are the same picture twice.
    await symlink(join(dir, 'food', 'cafe.svg'), join(dir, 'animals', 'cafe-link.svg'));

    const records = await collect(readOpenClipart({ root: dir, render: { size: 64 } }));
    expect(outline(records)).toEqual(['animals/mammals/bat.svg', 'SVG_INVALID@food/broken.svg', 'food/cafe.svg', 'MISSING_CAPTION@food/untitled.svg']);
    const [bat, , cafe] = records;
    expect(bat?.ok && bat.sample).toMatchObject({ caption: 'bat, mammal, animal', category: 'animals', title: 'bat', description: 'drawn for a test' });
    expect(cafe?.ok && cafe.sample.caption).toBe('caf\u00e9 au lait, drink');
    const png = bat?.ok ? bat.sample.image?.bytes : undefined;
    expect(png).toBeDefined();
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 32, 3]);
    // Flattened onto white: the corner is white, the circle's centre red.
    expect([...data.subarray(0, 3)]).toEqual([255, 255, 255]);
    const centre = (16 * 64 + 32) * 3;
    expect([...data.subarray(centre, centre + 3)]).toEqual([255, 0, 0]);

    const unrendered = await collect(readOpenClipart({ root: dir, render: false }));
    expect(unrendered[0]?.ok && unrendered[0].sample.image).toBeUndefined();
    // Without rendering the broken SVG still has readable metadata.
    expect(outline(unrendered)[1]).toBe('food/broken.svg');
  });

  it('parses the metadata of a real openclipart file shape', () => {
    const metadata = parseSvgMetadata(Buffer.from(clipart('stop sign', ['traffic', 'sign'])));
    expect(metadata).toEqual({ title: 'stop sign', keywords: ['traffic', 'sign'], description: 'drawn for a test' });
  });

  it('reads the installed Debian openclipart-svg collection and resumes mid-way', async () => {
    if (!existsSync(OPENCLIPART_ROOT)) {
      throw new Error(`${OPENCLIPART_ROOT} is missing: install Debian's openclipart-svg (scripts/setup.sh does)`);
    }
    const first: Array<{ id: string; caption: string }> = [];
    let resumeAt;
    for await (const record of readOpenClipart({ render: { size: 32 } })) {
      expect(record.ok).toBe(true);
      if (record.ok) first.push({ id: record.sample.sourceId, caption: record.sample.caption });
      if (first.length === 5) resumeAt = record.cursor;
      if (first.length === 8) break;
    }
    expect(first[0]).toEqual({
      id: 'animals/2_dead_frogs_lumen_desig_01.svg',
      caption: expect.stringMatching(/^2 dead frogs, kwaakwaa, squeleton, /),
    });
    const resumed: string[] = [];
    for await (const record of readOpenClipart({ render: false, resumeFrom: resumeAt })) {
      if (record.ok) resumed.push(record.sample.sourceId);
      if (resumed.length === 3) break;
    }
    expect(resumed).toEqual(first.slice(5).map((item) => item.id));
  });
});

describe('renderSvg', () => {
  // An old Inkscape page: physical size, no viewBox, the drawing in user units (CSS px: A4 is 793.7 x 1122.5).
  const page = (root: string) =>
    Buffer.from(`<?xml version="1.0"?>\n<!-- Inkscape 0.39 -->\n<svg ${root} xmlns="http://www.w3.org/2000/svg">\n  <rect x="550" y="800" width="200" height="300" fill="#000000"/>\n</svg>`);
  /** Fraction of dark pixels in each quadrant (top-left, top-right, bottom-left, bottom-right) of a render. */
  async function darkByQuadrant(png: Buffer): Promise<number[]> {
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    const dark = [0, 0, 0, 0];
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) if (data[y * info.width + x]! < 128) dark[(y >= info.height / 2 ? 2 : 0) + (x >= info.width / 2 ? 1 : 0)]!++;
    }
    return dark.map((d) => d / ((info.width * info.height) / 4));
  }

  it('draws a page sized in mm without a viewBox as a browser does, at any size (it came out blank at 256 px)', async () => {
    const a4 = page('width="210mm" height="297mm"');
    const png = await renderSvg(a4, 256);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([182, 256]);
    const [topLeft, topRight, bottomLeft, bottomRight] = await darkByQuadrant(png);
    // the rectangle covers x 550-750 of 793.7 and y 800-1100 of 1122.5: the bottom-right quadrant only
    expect(topLeft! + topRight! + bottomLeft!).toBe(0);
    expect(bottomRight).toBeGreaterThan(0.2);
    // the same drawing with the viewBox a browser implies renders to the same pixels
    const explicit = await renderSvg(page('width="210mm" height="297mm" viewBox="0 0 793.701 1122.52"'), 256);
    expect((await sharp(png).raw().toBuffer()).equals(await sharp(explicit).raw().toBuffer())).toBe(true);
    // points too; and a small size renders the whole drawing as well
    expect((await darkByQuadrant(await renderSvg(page('width="595.28pt" height="841.89pt"'), 64)))[3]).toBeGreaterThan(0.2);
  });

  it('renderClipart refuses a drawing that lies off its page (one flat colour), and the reader reports it as SVG_INVALID', async () => {
    const offPage = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect x="300" y="300" width="50" height="50"/></svg>');
    await expect(renderClipart(offPage, 64)).rejects.toThrow(/renders to one flat colour: nothing of its drawing is on its page/);
    // renderSvg itself draws what it is given, a flat square included
    expect((await sharp(await renderSvg(offPage, 64)).stats()).channels[0]!.min).toBe(255);
    await mkdir(join(dir, 'animals'), { recursive: true });
    await writeFile(join(dir, 'animals', 'off-page.svg'), clipart('lost cat', ['cat'], '<circle cx="500" cy="500" r="20" fill="red"/>'));
    await writeFile(join(dir, 'animals', 'on-page.svg'), clipart('found cat', ['cat']));
    const records = await collect(readOpenClipart({ root: dir, render: { size: 32 } }));
    expect(records.map((r) => (r.ok ? `ok ${r.sample.sourceId}` : `${r.error.code} ${r.error.message.replace(/^.*\]: /, '')}`))).toEqual([
      'SVG_INVALID SVG does not render: the SVG renders to one flat colour: nothing of its drawing is on its page',
      'ok animals/on-page.svg',
    ]);
  });

  it('adds a viewBox only to a root with physical width and height and none of its own', () => {
    const svg = (root: string) => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" ${root}><g/></svg>`);
    expect(withViewBox(svg('width="210mm" height="297mm"')).toString()).toContain('<svg viewBox="0 0 793.701 1122.52" xmlns=');
    expect(withViewBox(svg("width='1in' height='2cm' stroke-width='3'")).toString()).toContain('viewBox="0 0 96 75.591"');
    for (const root of ['width="100" height="50"', 'width="100px" height="50px"', 'width="210mm" height="297mm" viewBox="0 0 10 10"', 'width="100%" height="100%"', 'height="297mm"']) {
      const given = svg(root);
      expect(withViewBox(given), root).toBe(given);
    }
  });
});
