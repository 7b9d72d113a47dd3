import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, cutFile, makeImage, makeTempDir, writeTarFile, type TarFixtureMember } from './fixtures.test-util.js';
import type { PoolRecord } from './pool-record.js';
import { readWebDataset, type WebDatasetSample } from './webdataset-reader.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

async function sampleMembers(key: string, seed: number): Promise<TarFixtureMember[]> {
  return [
    // Python's tarfile (webdataset, img2dataset) writes a pax header for each member's float mtime.
    { name: `${key}.jpg`, data: await makeImage(seed), pax: { mtime: '1700000000.25' } },
    { name: `${key}.txt`, data: `caption ${key}`, pax: { mtime: '1700000000.25' } },
    { name: `${key}.json`, data: JSON.stringify({ key }) },
  ];
}

async function writeShard(index: number, keys: string[]): Promise<string> {
  const file = join(dir, `${String(index).padStart(5, '0')}.tar`);
  const members: TarFixtureMember[] = [];
  for (const [i, key] of keys.entries()) members.push(...(await sampleMembers(key, index * 10 + i)));
  await writeTarFile(file, members);
  return file;
}

function outline(records: ReadonlyArray<PoolRecord<WebDatasetSample>>): string[] {
  return records.map((record) => (record.ok ? record.sample.key : `${record.error.code}`));
}

describe('readWebDataset', () => {
  it('groups members by key across shards given as a brace pattern', async () => {
    await writeShard(0, ['a0', 'a1']);
    await writeShard(1, ['b0']);
    const records = await collect(readWebDataset({ shards: '{00000..00001}.tar', root: dir }));
    expect(outline(records)).toEqual(['a0', 'a1', 'b0']);
    const first = records[0];
    expect(first?.ok && [...first.sample.files.keys()]).toEqual(['jpg', 'txt', 'json']);
    expect(first?.ok && first.sample.files.get('txt')?.toString()).toBe('caption a0');
    expect(first?.ok && first.sample.shard).toBe(join(dir, '00000.tar'));
  });

  it('reports a truncated shard by name and member, keeps the samples before the cut, and goes on', async () => {
    const shard = await writeShard(0, ['s0', 's1', 's2']);
    await writeShard(1, ['t0']);
    // Cut inside s2's image: s0 and s1 are complete, s2 is not.
    const whole = await collect(readWebDataset({ shards: shard }));
    const s2Start = whole[1]?.cursor.offset ?? 0;
    await cutFile(shard, s2Start + 512 * 3 + 100);
    const records = await collect(readWebDataset({ shards: '{00000..00001}.tar', root: dir }));
    expect(outline(records)).toEqual(['s0', 's1', 'SHARD_TRUNCATED', 't0']);
    const error = records[2];
    expect(error?.ok).toBe(false);
    if (error?.ok === false) {
      expect(error.error.file).toBe(shard);
      expect(error.error.key).toBe('s2.jpg');
      expect(error.error.message).toContain('00000.tar');
      expect(error.cursor).toEqual({ shard: 1, offset: 0 });
    }
  });

  it('keeps a sample when the cut is in the next one, and drops a sample whose own members are cut', async () => {
    const shard = await writeShard(0, ['s0', 's1']);
    const whole = await collect(readWebDataset({ shards: shard }));
    const s1Start = whole[0]?.cursor.offset ?? 0;
    // Inside s1's image data (past its pax header, pax data and ustar header): s0 is complete.
    await cutFile(shard, s1Start + 3 * 512 + 50);
    expect(outline(await collect(readWebDataset({ shards: shard })))).toEqual(['s0', 'SHARD_TRUNCATED']);
    // Inside s0's own image: s0 may have had more members, so it is not passed on half-read.
    await cutFile(shard, 3 * 512 + 50);
    const records = await collect(readWebDataset({ shards: shard }));
    expect(outline(records)).toEqual(['SHARD_TRUNCATED']);
    expect(records[0]?.ok === false && records[0].error.key).toBe('s0.jpg');
  });

  it('reports a missing shard and a corrupt header without stopping', async () => {
    await writeShard(1, ['b0']);
    const corrupt = await writeShard(2, ['c0', 'c1']);
    const whole = await collect(readWebDataset({ shards: corrupt }));
    // Overwrite c1's first header with garbage: the checksum no longer matches.
    const handle = await open(corrupt, 'r+');
    await handle.write(Buffer.from('garbage-garbage-garbage'), 0, 23, whole[0]?.cursor.offset ?? 0);
    await handle.close();
    const records = await collect(readWebDataset({ shards: '{00000..00002}.tar', root: dir }));
    expect(outline(records)).toEqual(['FILE_UNREADABLE', 'b0', 'SHARD_CORRUPT']);
    const corruptRecord = records[2];
    expect(corruptRecord?.ok === false && corruptRecord.error.message).toMatch(/no valid tar header at byte \d+ \(after member c0.json\)/);
    // c0 was complete before the corrupt header, but which sample the corrupt header belonged to is unknown.
  });

  it('resumes from any cursor with exactly the records after it', async () => {
    await writeShard(0, ['a0', 'a1', 'a2']);
    const cut = await writeShard(1, ['b0', 'b1']);
    await writeShard(2, ['c0']);
    const full = await collect(readWebDataset({ shards: cut }));
    await cutFile(cut, (full[0]?.cursor.offset ?? 0) + 3 * 512 + 50);
    const shards = '{00000..00002}.tar';
    const all = await collect(readWebDataset({ shards, root: dir }));
    expect(outline(all)).toEqual(['a0', 'a1', 'a2', 'b0', 'SHARD_TRUNCATED', 'c0']);
    for (const [i, record] of all.entries()) {
      const rest = await collect(readWebDataset({ shards, root: dir, resumeFrom: record.cursor }));
      expect(outline(rest), `resume after record ${i}`).toEqual(outline(all.slice(i + 1)));
    }
  });

  it('resumes by seeking to the cursor: the bytes before it are never read again', async () => {
    const shard = await writeShard(0, ['a0', 'a1', 'a2', 'a3']);
    const all = await collect(readWebDataset({ shards: shard }));
    const cursor = all[1]?.cursor ?? { shard: 0, offset: 0 };
    // Garbage over everything before the cursor: a reader that re-read the shard from the start would fail.
    const handle = await open(shard, 'r+');
    await handle.write(Buffer.alloc(cursor.offset, 0x41), 0, cursor.offset, 0);
    await handle.close();
    expect(outline(await collect(readWebDataset({ shards: shard, resumeFrom: cursor })))).toEqual(['a2', 'a3']);
    expect(outline(await collect(readWebDataset({ shards: shard })))).toEqual(['SHARD_CORRUPT']);
  });

  it('streams members larger than its read chunk and members that straddle chunk boundaries intact', async () => {
    // 9 MiB is more than twice the reader's 4 MiB chunk; the small members around it land at odd offsets.
    const big = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const small = Array.from({ length: 40 }, (_, i) => Buffer.alloc(150_000 + i * 777, i));
    const members: TarFixtureMember[] = small.slice(0, 20).map((data, i) => ({ name: `s${String(i).padStart(2, '0')}.bin`, data }));
    members.push({ name: 'big.bin', data: big });
    members.push(...small.slice(20).map((data, i) => ({ name: `s${i + 20}.bin`, data })));
    const shard = join(dir, '00000.tar');
    await writeTarFile(shard, members);
    const records = await collect(readWebDataset({ shards: shard }));
    expect(records).toHaveLength(41);
    for (const [i, record] of records.entries()) {
      const expected = members[i]!.data as Buffer;
      expect(record.ok && record.sample.files.get('bin')?.equals(expected), `member ${members[i]!.name}`).toBe(true);
    }
  });
});
