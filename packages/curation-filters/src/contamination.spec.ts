import { describe, expect, it } from 'vitest';
import { ContaminationGate, DEFAULT_NEAR_DUPLICATE_THRESHOLD, sha256Hex, summarizeMatches } from './contamination.js';
import { angles, rowOf } from './fixtures.test-util.js';
import { JsSimilarityKernel } from './similarity-kernel.js';

const kernel = new JsSimilarityKernel();
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
// cos(deg) against the evaluation image at 0°: 10° -> 0.985, 18.19° -> 0.95, 25° -> 0.906
const v = (deg: number): Float32Array => rowOf(angles(deg), 0);

function gate(): ContaminationGate {
  const g = new ContaminationGate();
  g.registerSet('imagenet-val', [
    { id: 'val-1', bytes: bytes('val-1 pixels'), embedding: v(0) },
    { id: 'val-2', bytes: bytes('val-2 pixels'), embedding: v(120) },
  ]);
  g.registerSet('imagenet-sketch', [{ id: 'sketch-1', sha256: sha256Hex(bytes('sketch pixels')) }]);
  return g;
}

describe('ContaminationGate', () => {
  it('matches exact bytes and near-duplicate embeddings per evaluation set', async () => {
    const matches = await gate().check(
      [
        { id: 'copy', bytes: bytes('val-1 pixels'), embedding: v(60) }, // same bytes, different embedding
        { id: 'resized', bytes: bytes('other'), embedding: v(10) }, // near-duplicate of val-1
        { id: 'same-class', bytes: bytes('other 2'), embedding: v(25) }, // similar, not a duplicate
        { id: 'sketch-copy', bytes: bytes('sketch pixels') }, // hash only
        { id: 'clean', bytes: bytes('clean'), embedding: v(-60) },
      ],
      kernel,
    );
    expect(matches.map((m) => [m.sampleId, m.set, m.evaluationId, m.kind])).toEqual([
      ['copy', 'imagenet-val', 'val-1', 'exact'],
      ['sketch-copy', 'imagenet-sketch', 'sketch-1', 'exact'],
      ['resized', 'imagenet-val', 'val-1', 'near-duplicate'],
    ]);
    expect(matches[2]!.similarity).toBeCloseTo(Math.cos((10 * Math.PI) / 180), 5);
    expect(summarizeMatches(matches)).toEqual({
      'imagenet-val': { exact: 1, nearDuplicate: 1, samples: 2 },
      'imagenet-sketch': { exact: 1, nearDuplicate: 0, samples: 1 },
    });
  });

  it('matches a sample by its other encodings too (alsoSha256), once per evaluation image', async () => {
    const g = new ContaminationGate();
    // an evaluation set made from a shift: the JPEGs the shift stored, not the pool's SVG bytes
    g.registerSet('held-out', [
      { id: 'eagle.jpg', bytes: bytes('eagle as the shift stored it') },
      { id: 'bee.jpg', bytes: bytes('bee as the shift stored it') },
    ]);
    const matches = await g.check(
      [
        { id: 'eagle.svg', bytes: bytes('<svg>eagle</svg>'), alsoSha256: [sha256Hex(bytes('eagle as the shift stored it'))] },
        // listed twice: still one match
        { id: 'bee.svg', bytes: bytes('<svg>bee</svg>'), alsoSha256: [sha256Hex(bytes('bee as the shift stored it')).toUpperCase(), sha256Hex(bytes('bee as the shift stored it'))] },
        { id: 'ant.svg', bytes: bytes('<svg>ant</svg>'), alsoSha256: [sha256Hex(bytes('ant as a shift would store it'))] },
      ],
      kernel,
    );
    expect(matches.map((m) => [m.sampleId, m.evaluationId, m.kind, m.similarity])).toEqual([
      ['eagle.svg', 'eagle.jpg', 'exact', 1],
      ['bee.svg', 'bee.jpg', 'exact', 1],
    ]);
    await expect(g.check([{ id: 'x.svg', bytes: bytes('x'), alsoSha256: ['nope'] }], kernel)).rejects.toThrow(/sample x.svg has a malformed sha256 \(nope\)/);
  });

  it('uses the configured threshold inclusively (default 0.95)', async () => {
    expect(DEFAULT_NEAR_DUPLICATE_THRESHOLD).toBe(0.95);
    const g = new ContaminationGate({ nearDuplicateThreshold: 0.9 });
    g.registerSet('val', [{ id: 'e', bytes: bytes('e'), embedding: v(0) }]);
    const matches = await g.check([{ id: 's', bytes: bytes('s'), embedding: v(25) }], kernel);
    expect(matches).toHaveLength(1);
    const strict = await gate().check([{ id: 's', bytes: bytes('s'), embedding: v(25) }], kernel);
    expect(strict).toHaveLength(0);
  });

  it('refuses what it cannot check', async () => {
    const g = gate();
    expect(() => g.registerSet('imagenet-val', [{ id: 'x', bytes: bytes('x') }])).toThrow(/already registered/);
    expect(() => g.registerSet('empty', [])).toThrow(/evaluation set empty is empty/);
    expect(() => g.registerSet('bad', [{ id: 'x', sha256: 'abc' }])).toThrow(/malformed sha256/);
    expect(() => g.registerSet('nothing', [{ id: 'x' }])).toThrow(/neither image bytes nor a sha256/);
    expect(() => g.registerSet('wide', [{ id: 'x', bytes: bytes('x'), embedding: new Float32Array(3).fill(1) }])).toThrow(/3-dimensional embedding; the gate holds 2-dimensional/);
    await expect(g.check([{ id: 's', bytes: bytes('s'), embedding: new Float32Array(4).fill(1) }], kernel)).rejects.toThrow(/4-dimensional embedding; the evaluation sets are 2-dimensional/);
    await expect(new ContaminationGate().check([{ id: 's', bytes: bytes('s') }], kernel)).rejects.toThrow(/no evaluation set is registered/);
    expect(() => new ContaminationGate({ nearDuplicateThreshold: 1.5 })).toThrow(/must be in \(0, 1\]/);
  });
});
