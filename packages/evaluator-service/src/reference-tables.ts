// SELECT's published per-class tables (analytical/*-stats-complete.csv) as reference shifts, so a new strategy is
// ranked beside ImageNet++'s. Columns (DESIGN.md): classname, qty nonzero cols, most confused classnames, most
// confused scores, skewness of normalized confusion scores, accuracy (la1000t2i: Accuracy), Precision, Recall,
// Frequency, Balanced Accuracy, index, Class Count; sd1000* tables start with pandas' unnamed index column.
// Rows repeat for duplicated class names (missile, sunglasses): the first row of each `index` is kept.
import { readFile } from 'node:fs/promises';
import { EvaluatorInputError } from './errors.js';
import { classCountMetrics } from './metrics/shift-analytics.js';
import type { ResultRecord } from './results.js';

export interface ReferenceClass {
  index: number;
  classname: string;
  /** Per-class accuracy (recall) in percent. */
  accuracy: number;
  /** Percent; NaN when the table has none (the class was never predicted). */
  precision: number;
  recall: number;
  /** Training images of the class in the shift. */
  classCount: number;
}

export interface ReferenceTable {
  file: string;
  classes: ReferenceClass[];
  /** Rows dropped as repeats of an index already read. */
  duplicateRows: number;
  /** Whether accuracy/precision/recall were fractions (scaled to percent) or already percent. */
  scale: 'fraction' | 'percent';
}

const REQUIRED = ['classname', 'accuracy', 'precision', 'recall', 'index', 'class count'] as const;

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new EvaluatorInputError('the CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

function number(value: string | undefined, what: string, allowMissing: boolean): number {
  const v = (value ?? '').trim();
  if (allowMissing && (v === '' || v.toLowerCase() === 'nan')) return Number.NaN;
  const n = Number(v);
  if (v === '' || !Number.isFinite(n)) throw new EvaluatorInputError(`${what}: "${value ?? ''}" is not a number`);
  return n;
}

/** Parses one table; `file` names it in error messages. */
export function parseReferenceTable(text: string, file: string, classes = 1000): ReferenceTable {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  if (rows.length < 2) throw new EvaluatorInputError(`${file}: no data rows (a *-stats-complete.csv table has a header and one row per class)`);
  const header = rows[0]!.map((h) => h.trim().toLowerCase());
  const column: Record<string, number> = {};
  for (const name of REQUIRED) {
    const at = header.indexOf(name);
    if (at >= 0) column[name] = at;
  }
  const missing = REQUIRED.filter((name) => column[name] === undefined);
  if (missing.length > 0) {
    throw new EvaluatorInputError(`${file}: missing column(s) ${missing.join(', ')}; found ${rows[0]!.map((h) => JSON.stringify(h)).join(', ')}`);
  }
  const byIndex = new Map<number, ReferenceClass>();
  let duplicateRows = 0;
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!;
    const where = `${file} line ${r + 1}`;
    if (row.length !== header.length) throw new EvaluatorInputError(`${where}: ${row.length} fields, the header has ${header.length}`);
    const cell = (name: (typeof REQUIRED)[number]): string => row[column[name]!]!;
    const index = number(cell('index'), `${where}, index`, false);
    if (!Number.isInteger(index) || index < 0 || index >= classes) {
      throw new EvaluatorInputError(`${where}: index ${index} is not a class index in [0, ${classes})`);
    }
    const classCount = number(cell('class count'), `${where}, Class Count`, false);
    if (!Number.isInteger(classCount) || classCount < 0) throw new EvaluatorInputError(`${where}: Class Count ${classCount} is not a non-negative integer`);
    const entry: ReferenceClass = {
      index,
      classname: cell('classname'),
      accuracy: number(cell('accuracy'), `${where}, accuracy`, false),
      precision: number(cell('precision'), `${where}, Precision`, true),
      recall: number(cell('recall'), `${where}, Recall`, true),
      classCount,
    };
    if (byIndex.has(index)) duplicateRows++;
    else byIndex.set(index, entry);
  }
  const list = [...byIndex.values()].sort((a, b) => a.index - b.index);
  const rates = list.flatMap((c) => [c.accuracy, c.precision, c.recall]).filter(Number.isFinite);
  if (rates.some((v) => v < 0 || v > 100)) throw new EvaluatorInputError(`${file}: accuracy, Precision and Recall must lie in [0, 1] or [0, 100]`);
  const scale = rates.every((v) => v <= 1) ? 'fraction' : 'percent';
  if (scale === 'fraction') {
    for (const c of list) {
      c.accuracy *= 100;
      c.precision *= 100;
      c.recall *= 100;
    }
  }
  return { file, classes: list, duplicateRows, scale };
}

export async function loadReferenceTable(file: string, classes = 1000): Promise<ReferenceTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new EvaluatorInputError(`cannot read the reference table ${file}: ${(cause as Error).message}`, { cause });
  }
  return parseReferenceTable(text, file, classes);
}

/**
 * The results a reference table stands for: top-1 (mean of the per-class accuracy, as the tables' accuracy
 * column averages to the paper's numbers on class-balanced ImageNet val), per-class accuracy, precision and
 * recall on `benchmark`, and the shift's class counts with their analytic metrics under "shift-analytics".
 */
export function referenceRecords(table: ReferenceTable, benchmark: string, taxonomyWnids: readonly string[]): { records: ResultRecord[]; top1: number } {
  const records: ResultRecord[] = [];
  const valid = table.classes.filter((c) => Number.isFinite(c.accuracy));
  const top1 = valid.reduce((a, c) => a + c.accuracy, 0) / valid.length;
  const source = { source: table.file };
  records.push({ benchmark, metric: 'top1', value: top1, numSamples: valid.length, params: { ...source, averaged_over: 'classes' } });
  records.push({ benchmark, metric: 'mean_per_class_accuracy', value: top1, numSamples: valid.length, params: source });
  const counts = new Array<number>(taxonomyWnids.length).fill(0);
  for (const c of table.classes) {
    const classParams = { class_index: c.index, class_name: taxonomyWnids[c.index] ?? c.classname };
    records.push({ benchmark, metric: 'class_accuracy', value: c.accuracy, numSamples: 0, params: classParams });
    if (Number.isFinite(c.precision)) records.push({ benchmark, metric: 'class_precision', value: c.precision, numSamples: 0, params: classParams });
    if (Number.isFinite(c.recall)) records.push({ benchmark, metric: 'class_recall', value: c.recall, numSamples: 0, params: classParams });
    counts[c.index] = c.classCount;
  }
  if (table.classes.length === taxonomyWnids.length) {
    const m = classCountMetrics(counts);
    const add = (metric: string, value: number): void => void records.push({ benchmark: 'shift-analytics', metric, value, numSamples: m.samples, params: source });
    add('samples', m.samples);
    add('coverage', m.coverage);
    add('lt500', m.lt500);
    add('lt500_nonempty', m.lt500NonEmpty);
    add('ls5pct', m.ls5pct);
    add('entropy_bits', m.entropyBits);
    add('entropy_normalized', m.entropyNormalized);
    add('gini', m.gini);
  }
  for (const c of table.classes) {
    records.push({ benchmark: 'shift-analytics', metric: 'class_count', value: c.classCount, numSamples: c.classCount, params: { class_index: c.index, class_name: taxonomyWnids[c.index] ?? c.classname } });
  }
  return { records, top1 };
}
