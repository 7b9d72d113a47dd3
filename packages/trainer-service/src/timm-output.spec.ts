import { describe, expect, it } from 'vitest';
import { latestPerEpoch } from './timm-run.js';
import { SummaryFormatError, inEpochStatus, parseSummary, parseTrainLine, summaryMetrics } from './timm-output.js';
import { recipeYaml, resolveRecipe } from './recipes.js';

describe("reading timm's output", () => {
  it('parses summary.csv rows, leaves a torn last line for later, and names a row that is not numbers', () => {
    const text = 'epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n0,2.5,2.1,31.5,70.25,0.1\n1,2.0,1.8,40,80,0.05\n2,1.9';
    expect(parseSummary(text)).toEqual([
      { epoch: 0, train_loss: 2.5, eval_loss: 2.1, eval_top1: 31.5, eval_top5: 70.25, lr: 0.1 },
      { epoch: 1, train_loss: 2, eval_loss: 1.8, eval_top1: 40, eval_top5: 80, lr: 0.05 },
    ]);
    expect(() => parseSummary('epoch,train_loss\n0,abc\n')).toThrow(SummaryFormatError);
    expect(() => parseSummary('what,ever\n1,2\n')).toThrow(/no "epoch" column/);
    expect(() => parseSummary('epoch,a\n0,1,2\n')).toThrow(/2 values for 2 columns|3 values for 2 columns/);
  });

  it('turns a row into epoch metrics and a resumed epoch into one row (the later wins)', () => {
    const [row] = parseSummary('epoch,train_loss,eval_top1,lr\n3,1.5,55,0.2\n');
    expect(summaryMetrics(row!, 100)).toEqual([
      { epoch: 3, step: 400, split: 'train', name: 'epoch_loss', value: 1.5 },
      { epoch: 3, step: 400, split: 'val', name: 'top1', value: 55 },
      { epoch: 3, step: 400, split: 'train', name: 'lr', value: 0.2 },
    ]);
    const rows = parseSummary('epoch,eval_top1\n0,10\n1,20\n1,25\n2,30\n');
    expect([...latestPerEpoch(rows).values()].map((r) => r['eval_top1'])).toEqual([10, 25, 30]);
  });

  it("reads step metrics from train.py's log line format and ignores other lines", () => {
    const line = 'Train: 2 [  50/1251 (  4%)]  Loss: 6.91 (6.95)  Time: 0.402s,  477.61/s  (0.410s,  468.05/s)  LR: 1.000e-06  Data: 0.011 (0.012)';
    expect(parseTrainLine(line)).toEqual({
      epoch: 2,
      index: 50,
      updatesPerEpoch: 1251,
      metrics: [
        { epoch: 2, step: 2 * 1251 + 51, split: 'train', name: 'loss', value: 6.91 },
        { epoch: 2, step: 2 * 1251 + 51, split: 'train', name: 'lr', value: 1e-6 },
        { epoch: 2, step: 2 * 1251 + 51, split: 'train', name: 'samples_per_s', value: 477.61 },
      ],
    });
    expect(parseTrainLine('Test: [   0/10]  Time: 0.1  Loss:  0.5  Acc@1: 50')).toBeNull();
    expect(parseTrainLine('\u0000\u0001garbage')).toBeNull();
  });

  it('says where an epoch is in the run status: update k of n, loss, rate, and the last validation', () => {
    const step = parseTrainLine('Train: 2 [  50/1251 (  4%)]  Loss: 6.91 (6.95)  Time: 0.402s,  477.61/s  (0.410s,  468.05/s)  LR: 1.000e-06  Data: 0.011 (0.012)')!;
    expect(inEpochStatus(step)).toBe('epoch 2: update 51/1251, train loss 6.9100, 478 samples/s');
    expect(inEpochStatus(step, { epoch: 1, top1: 12.3456 })).toBe('epoch 2: update 51/1251, train loss 6.9100, 478 samples/s (epoch 1: val top-1 12.35)');
    expect(inEpochStatus({ ...step, metrics: [] }, { epoch: 1, top1: undefined })).toBe('epoch 2: update 51/1251 (epoch 1: val top-1 ?)');
  });

  it("writes the recipe as a train.py config that PyYAML reads as numbers (1.0e-06, not the string '1e-6')", () => {
    const yaml = recipeYaml(resolveRecipe('select', null));
    expect(yaml).toContain('model: "resnet50"\n');
    expect(yaml).toContain('warmup_lr: 0.000001\n');
    expect(recipeYaml({ ...resolveRecipe('select', null), warmup_lr: 1e-7 })).toContain('warmup_lr: 1.0e-7\n');
    expect(yaml).toContain('mixup: 0.2\ncutmix: 1\n');
  });
});
