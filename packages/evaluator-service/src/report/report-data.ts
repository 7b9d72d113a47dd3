// What the HTML report shows, and how it is gathered: the leaderboard, per-class results and class counts from
// the sink's ClickHouse views, the curation funnel from the curator's decision table, and thumbnails of samples
// per class straight from each shift's shards.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readClassShards } from '@select/datasets';
import { sql, type ClickHouse } from '@select/metrics';
import sharp from 'sharp';
import { buildLeaderboard, type LeaderboardRow } from '../leaderboard.js';

export interface ClassPoint {
  classIndex: number;
  className: string;
  count: number;
  accuracy: number;
}

export interface FunnelRow {
  strategy: string;
  shiftId: string;
  step: string;
  reason: string;
  kept: boolean;
  candidates: number;
}

export interface SampleGrid {
  shiftId: string;
  classes: Array<{ classIndex: number; wnid: string; thumbnails: string[] }>;
}

export interface ReportData {
  title: string;
  generatedAt: string;
  referenceShift: string;
  leaderboard: LeaderboardRow[];
  /** Samples per class, every class of the label space (empty ones as 0), per shift. */
  classCounts: Array<{ shiftId: string; counts: number[] }>;
  /** Per-class accuracy on `perClassBenchmark` against the class's count in the shift. */
  perClassBenchmark: string;
  perClass: Array<{ shiftId: string; points: ClassPoint[] }>;
  funnel: FunnelRow[];
  /** Why the funnel is empty, when it is (no decision table yet, or no decisions). */
  funnelNote: string;
  samples: SampleGrid[];
  /** Free text shown under the title (what the numbers mean with fixture models, ...). */
  notes: string[];
}

/**
 * The funnel query: candidates per strategy, shift, step and reason, kept or dropped, from the curator's
 * decision table (curation_decisions, one row per candidate and seed). Adapt it here if that table changes.
 */
const FUNNEL_FROM = `SELECT strategy, shift_id, step, reason, kept, count() AS candidates
FROM curation_decisions FINAL`;
const FUNNEL_GROUP = `GROUP BY strategy, shift_id, step, reason, kept
ORDER BY strategy, shift_id, kept DESC, candidates DESC`;
export const CURATION_FUNNEL_QUERY = `${FUNNEL_FROM}
${FUNNEL_GROUP}`;

export interface CollectOptions {
  title?: string;
  referenceShift?: string;
  /** Benchmark of the per-class scatter. @default 'imagenet-val' (else the first with per-class rows) */
  perClassBenchmark?: string;
  /** Shift directories by shift id for the image grid; shift_status.uri is used for the others. */
  shiftDirs?: Record<string, string>;
  /** Classes per shift in the image grid (the largest) and images per class. @default 6, 4 */
  gridClasses?: number;
  gridImages?: number;
  classes?: number;
  notes?: string[];
  /** Only these shifts in every section (a run's own report); @default every shift the database holds */
  shifts?: readonly string[];
}

type Row = Record<string, string | number>;

async function tryQuery<T>(ch: ClickHouse, statement: ReturnType<typeof sql>): Promise<T[] | Error> {
  try {
    return await ch.query<T>(statement);
  } catch (error) {
    return error as Error;
  }
}

export async function collectReportData(ch: ClickHouse, options: CollectOptions = {}): Promise<ReportData> {
  const classes = options.classes ?? 1000;
  const only = options.shifts !== undefined ? sql`shift_id IN ${sql.tuple(options.shifts.length > 0 ? [...options.shifts] : [''])}` : sql.raw('1');
  const scores = await ch.query<Row>(sql`SELECT shift_id, benchmark, metric, seed, value FROM evaluation_scores WHERE ${only} ORDER BY benchmark, metric, shift_id, seed`);
  const leaderboard = buildLeaderboard(
    scores.map((r) => ({ shiftId: String(r['shift_id']), benchmark: String(r['benchmark']), metric: String(r['metric']), seed: Number(r['seed']), value: Number(r['value']) })),
    options.referenceShift ? { referenceShift: options.referenceShift } : {},
  );

  const countRows = await ch.query<Row>(
    sql`SELECT shift_id, class_index, any(value) AS samples FROM evaluation_class_results WHERE benchmark = 'shift-analytics' AND metric = 'class_count' AND ${only} GROUP BY shift_id, class_index`,
  );
  const sampleRows = await tryQuery<Row>(ch, sql`SELECT shift_id, class_index, samples FROM shift_class_counts WHERE ${only}`);
  const countsByShift = new Map<string, number[]>();
  for (const r of [...(sampleRows instanceof Error ? [] : sampleRows), ...countRows]) {
    const shift = String(r['shift_id']);
    const c = Number(r['class_index']);
    if (c < 0 || c >= classes) continue;
    let counts = countsByShift.get(shift);
    if (!counts) countsByShift.set(shift, (counts = new Array<number>(classes).fill(0)));
    counts[c] = Number(r['samples']);
  }

  const accRows = await ch.query<Row>(
    sql`SELECT shift_id, benchmark, class_index, any(class_name) AS class_name, avg(value) AS accuracy FROM evaluation_class_results WHERE metric = 'class_accuracy' AND ${only} GROUP BY shift_id, benchmark, class_index`,
  );
  const benchmarks = [...new Set(accRows.map((r) => String(r['benchmark'])))];
  const perClassBenchmark = options.perClassBenchmark ?? (benchmarks.includes('imagenet-val') ? 'imagenet-val' : (benchmarks[0] ?? 'imagenet-val'));
  const perClass = new Map<string, ClassPoint[]>();
  for (const r of accRows) {
    if (r['benchmark'] !== perClassBenchmark) continue;
    const shift = String(r['shift_id']);
    const counts = countsByShift.get(shift);
    if (!counts) continue;
    const classIndex = Number(r['class_index']);
    const points = perClass.get(shift) ?? [];
    points.push({ classIndex, className: String(r['class_name']), count: counts[classIndex] ?? 0, accuracy: Number(r['accuracy']) });
    perClass.set(shift, points);
  }

  const funnelRows = await tryQuery<Row>(ch, sql`${sql.raw(FUNNEL_FROM)}\nWHERE ${only}\n${sql.raw(FUNNEL_GROUP)}`);
  const funnel: FunnelRow[] =
    funnelRows instanceof Error
      ? []
      : funnelRows.map((r) => ({
          strategy: String(r['strategy']),
          shiftId: String(r['shift_id']),
          step: String(r['step']),
          reason: String(r['reason']),
          kept: Number(r['kept']) === 1,
          candidates: Number(r['candidates']),
        }));
  const funnelNote = funnelRows instanceof Error ? `no curation decisions could be read (${funnelRows.message.split('\n')[0]})` : funnel.length === 0 ? 'the decision table holds no decisions yet' : '';

  const wanted = (shiftId: string): boolean => options.shifts === undefined || options.shifts.includes(shiftId);
  const dirs: Record<string, string> = Object.fromEntries(Object.entries(options.shiftDirs ?? {}).filter(([shiftId]) => wanted(shiftId)));
  const statusRows = await tryQuery<Row>(ch, sql`SELECT shift_id, uri FROM shift_status WHERE ${only}`);
  if (!(statusRows instanceof Error)) for (const r of statusRows) if (r['uri'] && !dirs[String(r['shift_id'])]) dirs[String(r['shift_id'])] = String(r['uri']);
  const samples: SampleGrid[] = [];
  for (const [shiftId, dir] of Object.entries(dirs)) {
    const grid = await sampleGrid(shiftId, dir, options.gridClasses ?? 6, options.gridImages ?? 4).catch(() => undefined);
    if (grid) samples.push(grid);
  }

  return {
    title: options.title ?? 'SELECT benchmark report',
    generatedAt: new Date().toISOString(),
    referenceShift: options.referenceShift ?? '',
    leaderboard,
    classCounts: [...countsByShift].map(([shiftId, counts]) => ({ shiftId, counts })),
    perClassBenchmark,
    perClass: [...perClass].map(([shiftId, points]) => ({ shiftId, points })),
    funnel,
    funnelNote,
    samples,
    notes: options.notes ?? [],
  };
}

/** Thumbnails (64 px JPEG data URIs) of the first images of the shift's largest classes. */
export async function sampleGrid(shiftId: string, dir: string, classesWanted: number, perClass: number): Promise<SampleGrid | undefined> {
  const shards = (await readdir(dir)).filter((f) => /^\d+\.tar$/.test(f)).sort().map((f) => join(dir, f));
  if (shards.length === 0) return undefined;
  const byClass = new Map<number, { wnid: string; images: Uint8Array[] }>();
  let seen = 0;
  for await (const record of readClassShards({ shards })) {
    if (!record.ok) continue;
    if (++seen > 5000) break;
    const entry = byClass.get(record.sample.classIndex) ?? { wnid: record.sample.wnid ?? String(record.sample.classIndex), images: [] };
    if (entry.images.length < perClass) entry.images.push(record.sample.image.bytes);
    byClass.set(record.sample.classIndex, entry);
  }
  const chosen = [...byClass].sort((a, b) => b[1].images.length - a[1].images.length || a[0] - b[0]).slice(0, classesWanted);
  const classes = [];
  for (const [classIndex, entry] of chosen) {
    const thumbnails: string[] = [];
    for (const bytes of entry.images) {
      try {
        const jpeg = await sharp(bytes).resize(64, 64, { fit: 'cover' }).jpeg({ quality: 70 }).toBuffer();
        thumbnails.push(`data:image/jpeg;base64,${jpeg.toString('base64')}`);
      } catch {
        // an undecodable sample is left out of the grid
      }
    }
    classes.push({ classIndex, wnid: entry.wnid, thumbnails });
  }
  return { shiftId, classes };
}
