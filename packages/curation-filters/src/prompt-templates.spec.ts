import { describe, expect, it } from 'vitest';
import { CLIP_IMAGENET_TEMPLATES, averagePromptEmbeddings, classPrompts } from './prompt-templates.js';

describe('prompt templates', () => {
  it("are CLIP's 80 ImageNet templates in its order, one class slot each", () => {
    expect(CLIP_IMAGENET_TEMPLATES).toHaveLength(80);
    expect(new Set(CLIP_IMAGENET_TEMPLATES).size).toBe(80);
    expect(CLIP_IMAGENET_TEMPLATES[0]).toBe('a bad photo of a {}.');
    expect(CLIP_IMAGENET_TEMPLATES[79]).toBe('a tattoo of the {}.');
    for (const t of CLIP_IMAGENET_TEMPLATES) expect(t.split('{}')).toHaveLength(2);
    expect(classPrompts('goldfish', 'imagenet-80')[35]).toBe('a goldfish in a video game.');
    expect(classPrompts('goldfish', 'single')).toEqual(['a photo of a goldfish.']);
    expect(classPrompts('goldfish', 'single', 'A photo of {}')).toEqual(['A photo of goldfish']);
    expect(() => classPrompts('goldfish', 'single', 'no slot')).toThrow(/has no \{\} for the class name/);
    expect(() => classPrompts(' ', 'single')).toThrow(/class name is empty/);
  });

  it('average normalised prompt embeddings and normalise the mean, as CLIP does', () => {
    // [3, 4] -> [0.6, 0.8]; [0, 2] -> [0, 1]; mean [0.3, 0.9]; normalised / sqrt(0.9)
    const avg = averagePromptEmbeddings({ data: Float32Array.from([3, 4, 0, 2]), rows: 2, dim: 2 });
    expect(avg[0]).toBeCloseTo(0.3 / Math.sqrt(0.9), 6);
    expect(avg[1]).toBeCloseTo(0.9 / Math.sqrt(0.9), 6);
    expect(() => averagePromptEmbeddings({ data: new Float32Array(0), rows: 0, dim: 2 })).toThrow(/no prompt embeddings/);
  });
});
