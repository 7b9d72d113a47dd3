import { loadImageNetTaxonomy } from '@select/taxonomy';
import { describe, expect, it } from 'vitest';
import type { ClassifierInfo } from './classifier.js';
import type { EvalSetSpec, OpenedEvalSet } from './eval-sets.js';
import { labelSpaceFor, modelResultRecords } from './evaluate-model.js';

const taxonomy = loadImageNetTaxonomy();
const wnids = taxonomy.classes.map((c) => c.wnid);
const subsetR = [...taxonomy.subset('imagenet-r').wnids];

function set(classes: string[], classSubset: EvalSetSpec['classSubset'], mapping?: Map<string, number[]>): OpenedEvalSet {
  const spec: EvalSetSpec = { name: 's', uri: '/x', format: 'imagefolder', classSubset, classMappingUri: '', preprocessing: 'select', maxImages: 0, group: '' };
  return { spec, classes, mapping, total: 0, records: async function* () {} };
}
function model(outputs: number, labelNames?: string[]): ClassifierInfo {
  return { file: 'm.onnx', modelId: 'm', inputName: 'x', outputName: 'y', input: 'images', inputSize: undefined, outputs, labelNames, preprocessing: undefined, embeddingModel: undefined };
}

describe('labelSpaceFor', () => {
  it('masks 1000 outputs to ImageNet-R, or takes a model of exactly its 200 outputs', () => {
    const masked = labelSpaceFor(set(subsetR, 'imagenet-r'), model(1000), taxonomy);
    expect(masked.candidateCount).toBe(200);
    expect(masked.outputs).toBe(1000);
    const direct = labelSpaceFor(set(subsetR, 'imagenet-r'), model(200), taxonomy);
    expect(direct.candidateCount).toBe(200);
    expect([...direct.outputToClass.slice(0, 3)]).toEqual([0, 1, 2]);
  });

  it('follows a head’s label names and refuses an unnamed output size that fits nothing', () => {
    const head = labelSpaceFor(set([wnids[5]!, wnids[9]!], ''), model(3, [wnids[9]!, 'pad-0', wnids[5]!]), taxonomy);
    expect([...head.outputToClass]).toEqual([1, -1, 0]);
    expect(() => labelSpaceFor(set(subsetR, 'imagenet-r'), model(7), taxonomy)).toThrow(/7 outputs: neither 1000 nor the 200-class subset/);
    expect(() => labelSpaceFor(set(wnids.slice(0, 10), ''), model(10), taxonomy)).toThrow(/10 outputs: neither 1000 nor the 1000-class subset/);
    // eval-classes: a model of exactly the set's classes is read in the set's order
    expect(labelSpaceFor(set(wnids.slice(0, 10), 'eval-classes'), model(10), taxonomy).candidateCount).toBe(10);
  });

  it('maps ObjectNet classes onto the 1000 outputs and refuses a model of another size', () => {
    const mapping = new Map([
      ['alarm_clock', [409, 530]],
      ['banana', [954]],
    ]);
    const space = labelSpaceFor(set(['alarm_clock', 'banana'], 'objectnet', mapping), model(1000), taxonomy);
    expect(space.outputToClass[409]).toBe(0);
    expect(space.outputToClass[530]).toBe(0);
    expect(space.outputToClass[954]).toBe(1);
    expect(space.candidateCount).toBe(1000);
    expect(() => labelSpaceFor(set(['alarm_clock'], 'objectnet', mapping), model(200), taxonomy)).toThrow(/ObjectNet maps ImageNet-1k outputs; the model has 200/);
  });
});

describe('modelResultRecords', () => {
  it('reports ImageNet-C as the mean over its parts and leaves classes without images out of the per-class rows', () => {
    const part = (name: string, top1: number) => ({
      name,
      group: 'imagenet-c',
      classes: ['a', 'b'],
      summary: { images: 10, top1, top5: 100, meanPerClassAccuracy: top1, nll: 1, ece: 0.1 },
      perClass: [
        { position: 0, count: 10, accuracy: top1, precision: Number.NaN },
        { position: 1, count: 0, accuracy: Number.NaN, precision: Number.NaN },
      ],
      failed: 0,
      transform: 't',
    });
    const records = modelResultRecords([part('imagenet-c/blur/1', 40), part('imagenet-c/blur/2', 20), part('imagenet-c/noise/1', 60)]);
    expect(records.find((r) => r.benchmark === 'imagenet-c' && r.metric === 'top1')).toMatchObject({ value: 40, numSamples: 30 });
    expect(records.filter((r) => r.metric === 'class_accuracy')).toHaveLength(3);
    expect(records.filter((r) => r.metric === 'class_precision')).toHaveLength(0);
  });
});
