import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createScheduler } from './create-scheduler.js';
import type { SchedulerKind } from './scheduler-config.js';

interface ReferenceCase {
  name: string;
  kind: SchedulerKind;
  config: Record<string, unknown>;
  steps: number;
  eta: number;
  start: number;
  timesteps: number[];
  sigmas: number[] | null;
  initNoiseSigma: number;
  coef: number[];
  offsets: string[];
  stepNoise: string[];
  initial: { noise: string; clean?: string };
  scaledInputs: string[];
  samples: string[];
}

const reference = JSON.parse(
  readFileSync(new URL('../../../tools/fixtures/tiny-sd/scheduler-reference.json', import.meta.url), 'utf8'),
) as { cases: ReferenceCase[] };

const f32 = (b64: string): Float32Array => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

/** Largest |a−b| relative to the reference's largest magnitude. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let maxDiff = 0;
  let maxAbs = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  }
  return maxDiff / maxAbs;
}

describe.each(reference.cases.map((c) => [c.name, c] as const))('%s matches diffusers', (_name, ref) => {
  it('has the same timesteps, sigmas and initial noise scale', () => {
    const scheduler = createScheduler(ref.kind, ref.config, ref.steps, { eta: ref.eta });
    expect([...scheduler.timesteps]).toEqual(ref.timesteps.map((t) => expect.closeTo(t, 3)));
    if (ref.sigmas) {
      expect(scheduler.sigmas).toBeDefined();
      const rel = ref.sigmas.map((s, i) => Math.abs(scheduler.sigmas![i]! - s) / Math.max(s, 1e-3));
      expect(Math.max(...rel)).toBeLessThan(1e-5);
    }
    expect(scheduler.initNoiseSigma).toBeCloseTo(ref.initNoiseSigma, 4);
  });

  it('follows the same trajectory, step by step', () => {
    const scheduler = createScheduler(ref.kind, ref.config, ref.steps, { eta: ref.eta });
    let sample =
      ref.initial.clean !== undefined
        ? scheduler.addNoise(f32(ref.initial.clean), f32(ref.initial.noise), ref.start)
        : f32(ref.initial.noise).map((x) => x * scheduler.initNoiseSigma);
    expect(relativeError(sample, f32(ref.samples[0]!))).toBeLessThan(1e-5);
    for (let i = ref.start; i < ref.timesteps.length; i++) {
      const k = i - ref.start;
      const input = scheduler.scaleModelInput(sample, i);
      expect(relativeError(input, f32(ref.scaledInputs[k]!))).toBeLessThan(1e-4);
      const offset = f32(ref.offsets[i]!);
      const modelOutput = input.map((x, j) => ref.coef[i]! * x + offset[j]!);
      sample = scheduler.step(modelOutput, i, sample, f32(ref.stepNoise[i]!));
      const err = relativeError(sample, f32(ref.samples[k + 1]!));
      expect(err, `step ${i} (t=${ref.timesteps[i]})`).toBeLessThan(1e-4);
    }
  });
});
