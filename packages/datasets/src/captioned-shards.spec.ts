import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCaptionedShards } from './captioned-shards.js';
import { collect, makeImage, makeTempDir, outline, writeTarFile } from './fixtures.test-util.js';
import { decodeImages } from './image-decode.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

describe('readCaptionedShards', () => {
  it('pairs each image with its caption and metadata, and reports samples that cannot be pairs', async () => {
    const shard = join(dir, '00000.tar');
    await writeTarFile(shard, [
      { name: '000.jpg', data: await makeImage(1) },
      { name: '000.txt', data: '  a red fox in the snow\n' },
      { name: '000.json', data: JSON.stringify({ url: 'http://x/0.jpg', similarity: 0.31 }) },
      // No caption file.
      { name: '001.jpg', data: await makeImage(2) },
      { name: '001.json', data: '{}' },
      // Latin-1 bytes: "café" with 0xE9, not valid UTF-8.
      { name: '002.png', data: await makeImage(3, 'png') },
      { name: '002.txt', data: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
      // Caption but no image.
      { name: '003.txt', data: 'orphan caption' },
      { name: '004.webp', data: await makeImage(4, 'webp') },
      { name: '004.txt', data: 'a webp sample' },
    ]);
    const records = await collect(readCaptionedShards({ shards: shard }));
    expect(outline(records)).toEqual(['000', 'MISSING_CAPTION@001', 'CAPTION_ENCODING@002', 'MISSING_IMAGE@003', '004']);
    const [first, missing, latin1] = records;
    expect(first?.ok && first.sample.caption).toBe('a red fox in the snow');
    expect(first?.ok && first.sample.metadata).toEqual({ url: 'http://x/0.jpg', similarity: 0.31 });
    expect(first?.ok && first.sample.image.format).toBe('jpeg');
    expect(missing?.ok === false && missing.error.message).toBe(`${shard} [001]: sample has no .txt caption (members: .jpg, .json)`);
    expect(latin1?.ok === false && latin1.error.file).toBe(shard);
    const last = records[4];
    expect(last?.ok && last.sample.image.format).toBe('webp');
  });
});

describe('decodeImages', () => {
  it('decodes to RGB pixels in stream order and reports an unreadable image by shard and key', async () => {
    const shard = join(dir, '00000.tar');
    const members = [];
    for (let i = 0; i < 6; i++) {
      const image = i === 3 ? Buffer.from('this is not an image') : await makeImage(i, i % 2 === 0 ? 'jpeg' : 'png', 20 + i, 10);
      members.push({ name: `k${i}.jpg`, data: image }, { name: `k${i}.txt`, data: `caption ${i}` });
    }
    await writeTarFile(shard, members);
    // Reading never decodes: the bad image is an ordinary sample until someone asks for pixels.
    expect(outline(await collect(readCaptionedShards({ shards: shard })))).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);

    const decoded = await collect(decodeImages(readCaptionedShards({ shards: shard }), { concurrency: 3 }));
    expect(outline(decoded)).toEqual(['k0', 'k1', 'k2', 'IMAGE_DECODE@k3', 'k4', 'k5']);
    for (const [i, record] of decoded.entries()) {
      if (!record.ok) continue;
      expect(record.sample.pixels).toMatchObject({ width: 20 + i, height: 10, channels: 3 });
      expect(record.sample.pixels.data.length).toBe((20 + i) * 10 * 3);
    }
    const bad = decoded[3];
    expect(bad?.ok === false && bad.error.file).toBe(shard);
    // Decoding keeps each record's cursor, so a consumer can resume a decoded stream too.
    const raw = await collect(readCaptionedShards({ shards: shard }));
    expect(decoded.map((record) => record.cursor)).toEqual(raw.map((record) => record.cursor));

    const resized = await collect(decodeImages(readCaptionedShards({ shards: shard }), { shortSide: 5 }));
    expect(resized[0]?.ok && resized[0].sample.pixels).toMatchObject({ width: 10, height: 5 });
  });

  it('rejects a truncated JPEG, as Pillow does without LOAD_TRUNCATED_IMAGES', async () => {
    const jpeg = await makeImage(7, 'jpeg', 64, 48);
    const shard = join(dir, '00000.tar');
    await writeTarFile(shard, [
      { name: 'cut.jpg', data: jpeg.subarray(0, Math.floor(jpeg.length * 0.6)) },
      { name: 'cut.txt', data: 'half an image' },
      { name: 'whole.jpg', data: jpeg },
      { name: 'whole.txt', data: 'a whole image' },
    ]);
    const decoded = await collect(decodeImages(readCaptionedShards({ shards: shard })));
    expect(outline(decoded)).toEqual(['IMAGE_DECODE@cut', 'whole']);
    expect(decoded[0]?.ok === false && decoded[0].error.message).toContain(`${shard} [cut]: image does not decode`);
  });
});
