// An img2dataset-style WebDataset pool (jpg + txt per sample, one task per shard): images travel from
// the shards into the task output and on into the shift; bad captions and samples are decisions.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readShiftManifest, readWebDataset } from '@select/datasets';
import { sql } from '@select/metrics';
import { unary, type GenericServiceClient } from '@select/platform';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, tarFile, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';

describe('a WebDataset pool (img2dataset layout) through substring-match', () => {
  let kit: CurationKit;
  let client: GenericServiceClient;
  const jpegs = new Map<string, Buffer>();

  beforeAll(async () => {
    kit = await startCurationKit('wds');
    const jpeg = async (n: number) => {
      const bytes = await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: n * 20, g: 100, b: 50 } } }).jpeg().toBuffer();
      jpegs.set(String(n), bytes);
      return bytes;
    };
    const shard0 = tarFile([
      { name: '000.jpg', data: await jpeg(0) },
      { name: '000.txt', data: 'a tench on the table' },
      { name: '001.jpg', data: await jpeg(1) },
      { name: '001.txt', data: Buffer.from([0x61, 0x20, 0xff, 0xfe, 0x20, 0x74, 0x65, 0x6e, 0x63, 0x68]) }, // not UTF-8
      { name: '002.jpg', data: await jpeg(2) },
      { name: '002.txt', data: `goldfish ${'very '.repeat(40)}long` },
    ]);
    const shard1 = tarFile([
      { name: '100.jpg', data: await jpeg(3) },
      { name: '100.txt', data: 'goldfish bowl' },
      { name: '101.jpg', data: await jpeg(4) }, // no caption
      { name: '102.jpg', data: await jpeg(5) },
      { name: '102.txt', data: '   ' },
    ]);
    writeFileSync(join(kit.dir, '00000.tar'), shard0);
    writeFileSync(join(kit.dir, '00001.tar'), shard1);
    ({ client } = await kit.startCurator({ localWorkers: 1 }));
  });
  afterAll(() => kit?.cleanup());

  it('keeps the matching samples with their own JPEG bytes; every other record is a dropped decision with its reason', async () => {
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'wds',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: join(kit.dir, '{00000..00001}.tar'), format: 'webdataset', name: 'laion-like' },
      steps: [{ name: 'substring-match', paramsJson: '{"maxCaptionChars": 100}' }],
    });
    const job = await waitForJob(client, started.jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', message: '2 samples in 2 classes from 6 candidates (4 dropped)' });
    const entries = [];
    for await (const entry of readShiftManifest(started.outputUri)) entries.push(entry.source_id);
    expect(entries.sort()).toEqual(['000', '100']);
    // JPEG input is stored byte for byte: the pixels came from the shard through the task's images.bin.
    const stored = new Map<string, Buffer>();
    for await (const record of readWebDataset({ shards: join(started.outputUri, '00000.tar') })) {
      if (record.ok) stored.set((JSON.parse(record.sample.files.get('json')!.toString()) as { source_id: string }).source_id, record.sample.files.get('jpg')!);
    }
    expect(stored.get('000')?.equals(jpegs.get('0')!)).toBe(true);
    expect(stored.get('100')?.equals(jpegs.get('3')!)).toBe(true);

    const rows = await kit.rowsWhen<{ source_id: string; step: string; reason: string }>(
      sql`SELECT source_id, step, reason FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} AND kept = 0 ORDER BY source_id`,
      (r) => r.length >= 4,
    );
    expect(rows.map((r) => [r.source_id, r.step, r.reason.split(':').slice(0, 2).join(':')])).toEqual([
      ['001', 'read', 'bad-record: CAPTION_ENCODING'],
      ['002', 'substring-match', 'caption-too-long'],
      ['101', 'read', 'bad-record: MISSING_CAPTION'],
      ['102', 'substring-match', 'empty-caption'],
    ]);
  });
});
