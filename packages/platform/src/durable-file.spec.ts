import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncFile, writeFileAtomic } from './durable-file.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'durable-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the content and leaves no temp file behind', async () => {
    const file = join(dir, 'state.json');
    await writeFileAtomic(file, '{"v":1}');
    await writeFileAtomic(file, Buffer.from('{"v":2}'));
    expect(await readFile(file, 'utf8')).toBe('{"v":2}');
    await syncFile(file);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('fails clearly when the folder does not exist and writes nothing', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x.json'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });
});
