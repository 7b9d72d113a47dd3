import { describe, expect, it } from 'vitest';
import { planSplits } from './timm-run.js';
import type { ShiftInfo } from './shift-info.js';

const shift = (dir: string, shards: number): ShiftInfo => ({
  dir,
  name: dir,
  samples: shards * 10,
  shards: Array.from({ length: shards }, (_v, i) => ({ name: `${String(i).padStart(5, '0')}.tar`, samples: 10 })),
  classes: ['n01440764'],
  counts: [shards * 10],
});

describe('planSplits (the validation split timm reads with --val-split)', () => {
  it('holds out every round(1 / fraction)-th shard, spread over the shift', () => {
    const plan = planSplits(shift('/s', 10), null, 0.2);
    expect(plan.validation.map((s) => s.name)).toEqual(['00004.tar', '00009.tar']);
    expect(plan.train).toHaveLength(8);
    expect(plan.train[0]).toEqual({ name: '00000.tar', samples: 10, target: '/s/00000.tar' });
  });

  it('keeps one shard for validation when the shift has fewer shards than the step', () => {
    const plan = planSplits(shift('/s', 3), null, 0.1);
    expect(plan.validation.map((s) => s.name)).toEqual(['00002.tar']);
    expect(plan.train.map((s) => s.name)).toEqual(['00000.tar', '00001.tar']);
  });

  it('holds out at least one shard per training process (torchrun ranks read whole shards)', () => {
    const plan = planSplits(shift('/s', 6), null, 0.1, 2);
    expect(plan.validation.map((s) => s.name)).toEqual(['00004.tar', '00005.tar']);
    expect(plan.train).toHaveLength(4);
  });

  it('with val_uri trains on every shard and validates on the other shift (names prefixed so they cannot clash)', () => {
    const plan = planSplits(shift('/s', 2), shift('/v', 1), 0.1);
    expect(plan.train.map((s) => s.target)).toEqual(['/s/00000.tar', '/s/00001.tar']);
    expect(plan.validation).toEqual([{ name: 'val-00000.tar', samples: 10, target: '/v/00000.tar' }]);
  });
});
