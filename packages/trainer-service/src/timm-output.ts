// Reading what timm's train.py (or the project's train_select.py) writes: summary.csv rows and log lines.
import type { RunMetric } from './run-board.js';

/** One row of summary.csv as numbers, by column name (epoch, train_loss, eval_loss, eval_top1, eval_top5, lr, ...). */
export type SummaryRow = Record<string, number>;

export class SummaryFormatError extends Error {}

/**
 * Parses summary.csv text: a header line, then one row per finished epoch. A torn last line (no newline yet)
 * is left for the next read. A row whose values are not numbers throws SummaryFormatError naming the row.
 */
export function parseSummary(text: string): SummaryRow[] {
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline is not complete yet
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  if (nonEmpty.length === 0) return [];
  const header = nonEmpty[0]!.split(',').map((h) => h.trim());
  if (!header.includes('epoch')) throw new SummaryFormatError(`summary.csv has no "epoch" column (header: ${nonEmpty[0]!.slice(0, 200)})`);
  const rows: SummaryRow[] = [];
  for (let i = 1; i < nonEmpty.length; i++) {
    const cells = nonEmpty[i]!.split(',');
    if (cells.length !== header.length) throw new SummaryFormatError(`summary.csv row ${i} has ${cells.length} values for ${header.length} columns: ${nonEmpty[i]!.slice(0, 200)}`);
    const row: SummaryRow = {};
    header.forEach((h, j) => {
      const v = Number(cells[j]);
      if (cells[j]!.trim() === '' || Number.isNaN(v)) throw new SummaryFormatError(`summary.csv row ${i}: ${h} is "${cells[j]!.slice(0, 50)}", not a number`);
      row[h] = v;
    });
    rows.push(row);
  }
  return rows;
}

/** The metrics of one summary.csv row: train_* → split train, eval_* → split val, lr → train. Step = end of the epoch. */
export function summaryMetrics(row: SummaryRow, updatesPerEpoch: number): RunMetric[] {
  const epoch = row['epoch']!;
  const step = (epoch + 1) * Math.max(1, updatesPerEpoch);
  const out: RunMetric[] = [];
  for (const [key, value] of Object.entries(row)) {
    if (key === 'epoch' || !Number.isFinite(value)) continue;
    if (key.startsWith('train_')) out.push({ epoch, step, split: 'train', name: `epoch_${key.slice(6)}`, value });
    else if (key.startsWith('eval_')) out.push({ epoch, step, split: 'val', name: key.slice(5), value });
    else out.push({ epoch, step, split: 'train', name: key, value });
  }
  return out;
}

// train.py: "Train: 3 [  50/1251 (  4%)]  Loss: 6.91 (6.95)  Time: 0.402s,  477.61/s  (0.410s,  468.05/s)  LR: 1.000e-06  Data: ..."
const TRAIN_LINE = /Train: (\d+) \[\s*(\d+)\/(\d+)\s.*?Loss:\s*([-+0-9.eE]+|nan|inf)\s*\(([-+0-9.eE]+|nan|inf)\).*?,\s*([0-9.]+)\/s.*?LR:\s*([-+0-9.eE]+)/;
// train.py: "Scheduled epochs: 50. LR stepped per epoch." / ours adds "Updates per epoch: N."
const UPDATES_LINE = /Updates per epoch: (\d+)/;

export interface StepLine {
  epoch: number;
  index: number;
  updatesPerEpoch: number;
  metrics: RunMetric[];
}

/** The step metrics of one log line (loss, lr, samples_per_s), or null when the line is not a train.py step line. */
export function parseTrainLine(line: string): StepLine | null {
  const m = TRAIN_LINE.exec(line);
  if (!m) return null;
  const epoch = Number(m[1]);
  const index = Number(m[2]);
  const updatesPerEpoch = Number(m[3]);
  const step = epoch * updatesPerEpoch + index + 1;
  const metrics: RunMetric[] = [
    { epoch, step, split: 'train', name: 'loss', value: Number(m[4]) },
    { epoch, step, split: 'train', name: 'lr', value: Number(m[7]) },
    { epoch, step, split: 'train', name: 'samples_per_s', value: Number(m[6]) },
  ].filter((x) => Number.isFinite(x.value));
  return { epoch, index, updatesPerEpoch, metrics };
}

/**
 * A run's status while an epoch trains (minutes to hours at ImageNet scale): where it is, the step's loss and
 * rate, and the validation of the last finished epoch, e.g.
 * `epoch 2: update 51/1251, train loss 6.9100, 478 samples/s (epoch 1: val top-1 12.34)`.
 */
export function inEpochStatus(step: StepLine, lastVal?: { epoch: number; top1: number | undefined }): string {
  const value = (name: string): number | undefined => step.metrics.find((m) => m.name === name)?.value;
  const loss = value('loss');
  const rate = value('samples_per_s');
  return (
    `epoch ${step.epoch}: update ${step.index + 1}/${step.updatesPerEpoch}` +
    (loss === undefined ? '' : `, train loss ${loss.toFixed(4)}`) +
    (rate === undefined ? '' : `, ${Math.round(rate)} samples/s`) +
    (lastVal === undefined ? '' : ` (epoch ${lastVal.epoch}: val top-1 ${lastVal.top1?.toFixed(2) ?? '?'})`)
  );
}

export function parseUpdatesPerEpoch(line: string): number | null {
  const m = UPDATES_LINE.exec(line);
  return m ? Number(m[1]) : null;
}
