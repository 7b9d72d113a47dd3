import { makeImage } from './fixtures.test-util.js';
import type { ShiftSample, ShiftWriterOptions } from './shift-writer.js';

export const CRASH_TEST_CLASSES = ['n01440764', 'n01443537', 'n01484850'];

export const CRASH_TEST_OPTIONS: ShiftWriterOptions = {
  name: 'test-shift',
  strategy: 'caption-filter',
  params: { threshold: 0.5, encoder: 'tiny' },
  maxSamplesPerShard: 3,
};

/** Sample i of a fixed sequence; the same i always gives the same sample. */
export async function crashTestSample(i: number): Promise<ShiftSample> {
  return {
    sourceId: `pool/${String(i).padStart(4, '0')}`,
    classIndex: i % 3,
    image: await makeImage(i),
    score: 0.5 + i / 100,
    modelIds: { text: 'tiny-text-encoder' },
  };
}
