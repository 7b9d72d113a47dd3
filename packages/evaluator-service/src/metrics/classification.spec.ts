import { describe, expect, it } from 'vitest';
import { ClassificationAccumulator } from './classification.js';
import { LabelSpace } from './label-space.js';

// Logits chosen as log-probabilities, so the softmax gives back exactly the probabilities worked with by hand.
const logp = (p: number[]): number[] => p.map(Math.log);

describe('ClassificationAccumulator', () => {
  it('gives top-1, mean per-class accuracy, precision, NLL and ECE of a hand-worked set', () => {
    const space = LabelSpace.fromWnids(['a', 'b', 'c'], ['a', 'b', 'c'], false);
    const acc = new ClassificationAccumulator(space);
    acc.add(logp([0.5, 0.3, 0.2]), 0); // right, confidence 0.5
    acc.add(logp([0.6, 0.3, 0.1]), 1); // wrong (says a), confidence 0.6
    acc.add(logp([0.1, 0.1, 0.8]), 2); // right, confidence 0.8
    acc.add(logp([0.2, 0.7, 0.1]), 1); // right, confidence 0.7
    const s = acc.summary();
    expect(s.images).toBe(4);
    expect(s.top1).toBeCloseTo(75, 10);
    expect(s.top5).toBe(100); // only 3 classes: top-min(5, 3)
    // class a 1/1, class b 1/2, class c 1/1
    expect(s.meanPerClassAccuracy).toBeCloseTo((100 + 50 + 100) / 3, 10);
    expect(s.nll).toBeCloseTo((-Math.log(0.5) - Math.log(0.3) - Math.log(0.8) - Math.log(0.7)) / 4, 10);
    // four confidences in four different bins: ECE = mean |correct - confidence|
    expect(s.ece).toBeCloseTo((0.5 + 0.6 + 0.2 + 0.3) / 4, 10);
    const perClass = acc.perClass();
    expect(perClass.map((c) => c.accuracy)).toEqual([100, 50, 100]);
    // a was predicted twice (once right), b once, c once
    expect(perClass.map((c) => c.precision)).toEqual([50, 100, 100]);
  });

  it('puts confidences of one bin together before comparing with the accuracy', () => {
    const space = LabelSpace.fromWnids(['a', 'b'], ['a', 'b'], false);
    const acc = new ClassificationAccumulator(space);
    // both confidences 0.9 (bin 14 of 15): accuracy 1/2 against confidence 0.9 -> |0.5 - 0.9| = 0.4
    acc.add(logp([0.9, 0.1]), 0);
    acc.add(logp([0.9, 0.1]), 1);
    expect(acc.summary().ece).toBeCloseTo(0.4, 10);
  });

  it('counts top-5 over the five best outputs only', () => {
    const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const acc = new ClassificationAccumulator(LabelSpace.fromWnids(classes, classes, false));
    acc.add([6, 5, 4, 3, 2, 1, 0], 4); // fifth best: in the top 5
    acc.add([6, 5, 4, 3, 2, 1, 0], 5); // sixth best: not
    const s = acc.summary();
    expect(s.top5).toBe(50);
    expect(s.top1).toBe(0);
  });

  it('masks the logits to a subset (ImageNet-A/-R) and counts a prediction outside the set as wrong otherwise', () => {
    const logits = [10, 1, 10, 2]; // outputs a, b, c, d; the evaluation set holds b and d
    const masked = new ClassificationAccumulator(LabelSpace.fromWnids(['b', 'd'], ['a', 'b', 'c', 'd'], true));
    masked.add(logits, 1);
    expect(masked.summary().top1).toBe(100);
    const unmasked = new ClassificationAccumulator(LabelSpace.fromWnids(['b', 'd'], ['a', 'b', 'c', 'd'], false));
    unmasked.add(logits, 1);
    expect(unmasked.summary().top1).toBe(0);
  });

  it('maps many outputs onto one class (ObjectNet) and counts an unmapped top-1 as wrong', () => {
    const space = LabelSpace.fromMapping(['x', 'y'], new Map([['x', [0, 1]], ['y', [2]]]), 4);
    const acc = new ClassificationAccumulator(space);
    const unmappedWins = acc.add(logp([0.2, 0.3, 0.1, 0.4]), 0);
    expect(unmappedWins.trueProb).toBeCloseTo(0.5, 10); // x holds outputs 0 and 1
    acc.add(logp([0.1, 0.35, 0.3, 0.25]), 0); // output 1 (x) wins
    const s = acc.summary();
    expect(s.top1).toBe(50);
    expect(acc.perClass()[0]!.accuracy).toBe(50);
  });

  it('refuses a model that cannot predict some evaluation classes', () => {
    expect(() => LabelSpace.fromWnids(['b', 'z'], ['a', 'b'], false)).toThrow(/label-space mismatch.*1 of the evaluation set's 2 classes \(z\)/);
  });

  it('refuses an output row of the wrong length and a label outside the space', () => {
    const acc = new ClassificationAccumulator(LabelSpace.fromWnids(['a', 'b'], ['a', 'b'], false));
    expect(() => acc.add([1, 2, 3], 0)).toThrow(/returned 3 outputs, the label space expects 2/);
    expect(() => acc.add([1, 2], 2)).toThrow(/outside the evaluation label space/);
    expect(() => acc.summary()).toThrow(/no image/);
  });

  it('resumes from its state with the same result', () => {
    const space = LabelSpace.fromWnids(['a', 'b', 'c'], ['a', 'b', 'c'], false);
    const whole = new ClassificationAccumulator(space);
    const first = new ClassificationAccumulator(space);
    const rows: Array<[number[], number]> = [
      [logp([0.5, 0.3, 0.2]), 0],
      [logp([0.6, 0.3, 0.1]), 1],
      [logp([0.1, 0.1, 0.8]), 2],
    ];
    rows.forEach(([l, y]) => whole.add(l, y));
    first.add(...rows[0]!);
    const resumed = new ClassificationAccumulator(space, JSON.parse(JSON.stringify(first.state())));
    resumed.add(...rows[1]!);
    resumed.add(...rows[2]!);
    expect(resumed.summary()).toEqual(whole.summary());
  });
});
