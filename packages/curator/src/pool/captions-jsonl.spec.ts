// The captions-jsonl pool (benchmarks, dry runs): planning finds newline bytes only, reading parses the
// lines of one task's range. Every record of the file must land in exactly one task, whatever the chunk
// boundaries, line endings and blank lines.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPool, type PoolItem } from './pool-source.js';

const dir = mkdtempSync(join(tmpdir(), 'captions-jsonl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pool = (uri: string) => openPool({ uri, format: 'captions-jsonl', name: 'test', labelUris: [], classDescriptionsUri: '', hierarchyUri: '', imagesUri: '' }, dir);

async function readAll(uri: string, taskSize: number, limit = 0): Promise<{ tasks: number[]; items: PoolItem[] }> {
  const signal = new AbortController().signal;
  const source = pool(uri);
  const ranges = await source.plan(taskSize, limit, signal);
  const items: PoolItem[] = [];
  const tasks: number[] = [];
  for (const range of ranges) {
    let n = 0;
    for await (const item of source.read(range, signal)) {
      items.push(item);
      n++;
    }
    expect(n).toBe(range.records);
    tasks.push(n);
  }
  return { tasks, items };
}

describe('captions-jsonl pool', () => {
  it('gives every record to exactly one task: blank lines skipped, CRLF, multi-byte text, no final newline, bad lines as bad records', async () => {
    const file = join(dir, 'edge.jsonl');
    const lines = [
      JSON.stringify({ id: 'a', caption: 'a tench in a pond' }),
      '',
      '   \t',
      `${JSON.stringify({ id: 'b', caption: 'café — goldfish ünïcödé 🐟' })}\r`,
      '\u00a0\u2003',
      'not json',
      'null',
      JSON.stringify({ id: 'c', caption: 'x'.repeat(5000) }),
      JSON.stringify({ id: '', caption: 'empty id' }),
      JSON.stringify({ id: 'd', caption: 'last line, no newline' }),
    ];
    writeFileSync(file, lines.join('\n'));
    for (const taskSize of [1, 2, 3, 100]) {
      const { tasks, items } = await readAll(file, taskSize);
      expect(tasks.reduce((s, n) => s + n, 0)).toBe(7);
      expect(items.map((i) => (i.ok ? i.candidate.sourceId : 'bad'))).toEqual(['a', 'b', 'bad', 'bad', 'c', 'bad', 'd']);
      const b = items[1]!;
      expect(b.ok && b.candidate.caption).toBe('café — goldfish ünïcödé 🐟');
      const bad = items[2]!;
      // A bad record is named by the byte offset of its line ("not json" follows 3 lines and 2 blank ones).
      const offset = Buffer.byteLength(`${lines.slice(0, 5).join('\n')}\n`);
      expect(bad.ok ? '' : bad.sourceId).toBe(`${file}@${offset}`);
    }
  });

  it('splits a pool larger than a read chunk (1 MiB) into tasks of task_size records, reads lines longer than a chunk, honours the limit', async () => {
    const file = join(dir, 'large.jsonl');
    const records = 30_000;
    writeFileSync(file, Array.from({ length: records }, (_, i) => `${JSON.stringify({ id: `c${i}`, caption: `caption number ${i} `.repeat(3) })}\n`).join(''));
    const { tasks, items } = await readAll(file, 7_000);
    expect(tasks).toEqual([7000, 7000, 7000, 7000, 2000]);
    expect(items.map((i) => (i.ok ? i.candidate.sourceId : 'bad'))).toEqual(Array.from({ length: records }, (_, i) => `c${i}`));
    // A line longer than a read chunk.
    const long = join(dir, 'long.jsonl');
    writeFileSync(long, [{ id: 'x', caption: 'short' }, { id: 'y', caption: 'y'.repeat(1_500_000) }, { id: 'z', caption: 'after' }].map((r) => JSON.stringify(r)).join('\n'));
    const longRead = await readAll(long, 2);
    expect(longRead.tasks).toEqual([2, 1]);
    expect(longRead.items.map((i) => (i.ok ? `${i.candidate.sourceId}:${i.candidate.caption?.length}` : 'bad'))).toEqual(['x:5', 'y:1500000', 'z:5']);
    const limited = await readAll(file, 7_000, 10_001);
    expect(limited.tasks).toEqual([7000, 3001]);
    expect(limited.items.at(-1)?.ok && limited.items.at(-1)).toMatchObject({ candidate: { sourceId: 'c10000' } });
  });
});
