import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readClassShards } from './class-shards.js';
import { collect, makeImage, makeTempDir, outline, writeTarFile } from './fixtures.test-util.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

const CLASSES = ['n01440764', 'n01443537', 'n01484850'];

describe('readClassShards', () => {
  it('reads the class index from .cls or the json, checked against the label space', async () => {
    const shard = join(dir, '00000.tar');
    await writeTarFile(shard, [
      { name: 'a.jpg', data: await makeImage(1) },
      { name: 'a.cls', data: '2' },
      { name: 'b.jpg', data: await makeImage(2) },
      { name: 'b.json', data: JSON.stringify({ class_index: 1, wnid: 'n01443537' }) },
      { name: 'c.jpg', data: await makeImage(3) },
      { name: 'c.json', data: JSON.stringify({ wnid: 'n01440764' }) },
      { name: 'd.jpg', data: await makeImage(4) },
      { name: 'd.cls', data: '7' },
      { name: 'e.jpg', data: await makeImage(5) },
      { name: 'e.cls', data: 'cat' },
      { name: 'f.jpg', data: await makeImage(6) },
      { name: 'f.cls', data: '0' },
      { name: 'f.json', data: JSON.stringify({ wnid: 'n01484850' }) },
    ]);
    const records = await collect(readClassShards({ shards: shard, classes: CLASSES }));
    expect(outline(records)).toEqual(['a', 'b', 'c', 'UNKNOWN_CLASS@d', 'MISSING_LABEL@e', 'UNKNOWN_CLASS@f']);
    expect(records.slice(0, 3).map((record) => record.ok && [record.sample.classIndex, record.sample.wnid])).toEqual([
      [2, 'n01484850'],
      [1, 'n01443537'],
      [0, 'n01440764'],
    ]);
    const mismatch = records[5];
    expect(mismatch?.ok === false && mismatch.error.message).toContain('class index 0 is n01440764 but the json says n01484850');
    // SELECT's kNN reader's field: json["idx"] (what ShiftWriter writes beside class_index).
    const idxShard = join(dir, 'idx.tar');
    await writeTarFile(idxShard, [
      { name: 'g.jpg', data: await makeImage(7) },
      { name: 'g.json', data: JSON.stringify({ idx: 2 }) },
    ]);
    const idx = await collect(readClassShards({ shards: idxShard, classes: CLASSES }));
    expect(idx.map((record) => record.ok && [record.sample.key, record.sample.classIndex, record.sample.wnid])).toEqual([['g', 2, 'n01484850']]);
    // Without a label space, indices are taken as they are.
    const unchecked = await collect(readClassShards({ shards: shard }));
    expect(outline(unchecked)).toEqual(['a', 'b', 'MISSING_LABEL@c', 'd', 'MISSING_LABEL@e', 'f']);
  });

  it('reads released ImageNet++ shards (class index in the json) and resumes from any cursor', async () => {
    // The published shifts carry the label only in each sample's json, next to the wnid.
    for (const shard of [0, 1]) {
      const members = [];
      for (let i = 0; i < 3; i++) {
        const key = `s${shard}_${i}`;
        members.push({ name: `${key}.jpg`, data: await makeImage(shard * 3 + i) }, { name: `${key}.json`, data: JSON.stringify({ cls: i, wnid: CLASSES[i] }) });
      }
      await writeTarFile(join(dir, `0000${shard}.tar`), members);
    }
    const shards = '{00000..00001}.tar';
    const all = await collect(readClassShards({ shards, root: dir, classes: CLASSES }));
    expect(all.map((record) => record.ok && [record.sample.key, record.sample.classIndex])).toEqual([
      ['s0_0', 0],
      ['s0_1', 1],
      ['s0_2', 2],
      ['s1_0', 0],
      ['s1_1', 1],
      ['s1_2', 2],
    ]);
    for (const [i, record] of all.entries()) {
      const rest = await collect(readClassShards({ shards, root: dir, classes: CLASSES, resumeFrom: record.cursor }));
      expect(outline(rest), `resume after record ${i}`).toEqual(outline(all.slice(i + 1)));
    }
  });
});
