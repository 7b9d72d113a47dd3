import { describe, expect, it } from 'vitest';
import { TINY_SD_MODEL } from '../test/tiny-sd-fixture.js';
import { ClipTokenizer, MAX_QUOTED_DROPPED_CHARS } from './clip-tokenizer.js';
import { readEmbeddedParameters } from './image-codec.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';

const words = (n: number, from = 0): string => Array.from({ length: n }, (_, i) => `word${from + i}`).join(' ');

describe('ClipTokenizer truncation notice', () => {
  it('quotes a short dropped tail whole', async () => {
    const tokenizer = await ClipTokenizer.load(`${TINY_SD_MODEL}/tokenizer`);
    const { truncation } = tokenizer.encode('a photo of a tench '.repeat(16));
    expect(truncation).toMatch(/^prompt truncated to 77 tokens \(CLIP's limit\); dropped \d+ tokens: "[^"]*a tench"$/);
  });

  it('caps what it quotes of a 3,000-word prompt, and says how much was left out', async () => {
    const tokenizer = await ClipTokenizer.load(`${TINY_SD_MODEL}/tokenizer`);
    const prompt = words(3_000);
    expect(prompt.length).toBeGreaterThan(20_000);
    const { truncation, ids } = tokenizer.encode(prompt);
    expect(ids).toHaveLength(77);
    expect(truncation!.length).toBeLessThan(MAX_QUOTED_DROPPED_CHARS + 200);
    const match = /dropped (\d+) tokens: "([^"]*)\.\.\." and (\d+) more characters$/.exec(truncation!);
    expect(match).not.toBeNull();
    const [, tokens, quoted, more] = match!;
    expect(Number(tokens)).toBeGreaterThan(2_900);
    // The start of the dropped text, cut between words, and the rest counted.
    expect(quoted!.length).toBeLessThanOrEqual(MAX_QUOTED_DROPPED_CHARS);
    expect(quoted!.endsWith(' ')).toBe(false);
    expect(Number(more)).toBeGreaterThan(15_000);
  });
});

describe('a 3,000-word prompt through the pipeline', () => {
  it('gives one short notice, and the same short notice in the image metadata', async () => {
    const pipeline = await StableDiffusionPipeline.load(TINY_SD_MODEL, { name: 'tiny-sd' });
    try {
      const prompt = words(3_000);
      const events = [];
      for await (const e of pipeline.generate({ mode: 'text-to-image', prompt, width: 64, height: 64, steps: 1, seeds: [1n] })) events.push(e);
      const notices = events.filter((e) => e.type === 'notice');
      expect(notices).toHaveLength(1);
      expect(notices[0]!.message.length).toBeLessThan(MAX_QUOTED_DROPPED_CHARS + 200);
      const image = events.find((e) => e.type === 'image')!;
      const parameters = JSON.parse(readEmbeddedParameters(image.image)!) as { notices: string[]; prompt: string };
      expect(parameters.notices).toEqual([notices[0]!.message]);
      // The request itself is kept as asked (provenance); only the quote of what was dropped is capped.
      expect(parameters.prompt).toBe(prompt);
    } finally {
      await pipeline.dispose();
    }
  });
});
