import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, makeImage, makeTempDir, outline } from './fixtures.test-util.js';
import { readImageFolder } from './image-folder.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

async function writeTree(): Promise<void> {
  const tree: Record<string, string[]> = {
    n01440764: ['b.JPEG', 'a.JPEG', 'notes.txt'],
    n01443537: ['c.png'],
    n99999999: ['x.jpg'],
    n01484850: ['d.webp', 'e.jpg'],
  };
  for (const [wnid, files] of Object.entries(tree)) {
    await mkdir(join(dir, wnid), { recursive: true });
    for (const [i, name] of files.entries()) {
      const format = name.endsWith('.png') ? 'png' : name.endsWith('.webp') ? 'webp' : 'jpeg';
      await writeFile(join(dir, wnid, name), name.endsWith('.txt') ? 'not an image' : await makeImage(i, format));
    }
  }
  await writeFile(join(dir, 'README'), 'files at the top are not samples');
}

describe('readImageFolder', () => {
  it('labels each image by its folder wnid, in name order', async () => {
    await writeTree();
    const records = await collect(readImageFolder({ root: dir }));
    expect(outline(records)).toEqual(['n01440764/a.JPEG', 'n01440764/b.JPEG', 'n01443537/c.png', 'n01484850/d.webp', 'n01484850/e.jpg', 'n99999999/x.jpg']);
    expect(records[2]?.ok && records[2].sample).toMatchObject({ wnid: 'n01443537', classIndex: undefined, image: { format: 'png' } });
  });

  it('maps wnids to class indices and reports folders outside the label space', async () => {
    await writeTree();
    const classes = ['n01440764', 'n01443537', 'n01484850'];
    const records = await collect(readImageFolder({ root: dir, classes }));
    expect(outline(records)).toEqual([
      'n01440764/a.JPEG',
      'n01440764/b.JPEG',
      'n01443537/c.png',
      'n01484850/d.webp',
      'n01484850/e.jpg',
      `UNKNOWN_CLASS@${join(dir, 'n99999999')}`,
    ]);
    expect(records.map((record) => record.ok && record.sample.classIndex)).toEqual([0, 0, 1, 2, 2, false]);
  });

  it('resumes from any cursor with exactly the files after it', async () => {
    await writeTree();
    const all = await collect(readImageFolder({ root: dir }));
    for (const [i, record] of all.entries()) {
      const rest = await collect(readImageFolder({ root: dir, resumeFrom: record.cursor }));
      expect(outline(rest), `resume after record ${i}`).toEqual(outline(all.slice(i + 1)));
    }
  });

  it('reports an image file it cannot read by path and goes on with the next', async () => {
    await writeTree();
    // A dangling link looks like an image by its name but has nothing behind it.
    await symlink(join(dir, 'gone.jpg'), join(dir, 'n01443537', 'b-broken.jpg'));
    const records = await collect(readImageFolder({ root: dir }));
    expect(outline(records)).toEqual([
      'n01440764/a.JPEG',
      'n01440764/b.JPEG',
      'FILE_UNREADABLE@n01443537/b-broken.jpg',
      'n01443537/c.png',
      'n01484850/d.webp',
      'n01484850/e.jpg',
      'n99999999/x.jpg',
    ]);
    const broken = records[2];
    expect(broken?.ok === false && broken.error.message).toContain(`${join(dir, 'n01443537', 'b-broken.jpg')} [n01443537/b-broken.jpg]: cannot read image`);
  });
});
