import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLORS, solidImage } from '../fixtures.test-util.js';
import { buildLeaderboard } from '../leaderboard.js';
import { SeededRandom } from '../metrics/random.js';
import { renderInChromium } from './chromium.test-util.js';
import { renderReport } from './render-report.js';
import type { ReportData } from './report-data.js';

async function sampleData(): Promise<ReportData> {
  const rng = new SeededRandom(4);
  const shifts = ['in1000', 'oi1000', 'la1000-txt2img', 'sd1000-txt2img'];
  const scores = shifts.flatMap((shiftId, s) =>
    [0, 1, 2].flatMap((seed) => [
      { shiftId, benchmark: 'imagenet-val', metric: 'top1', value: 78 - 15 * s + rng.normal(), seed },
      { shiftId, benchmark: 'imagenet-val', metric: 'nll', value: 1 + 0.4 * s + 0.05 * rng.normal(), seed },
      { shiftId, benchmark: 'knn:imagenet-val', metric: 'knn_top1@20', value: 60 - 10 * s + rng.normal(), seed },
    ]),
  );
  const classCounts = shifts.map((shiftId, s) => ({ shiftId, counts: Array.from({ length: 1000 }, (_, c) => (s === 1 && c % 26 === 0 ? 0 : Math.round(1300 * Math.exp(-s * 3 * (c / 1000)) * (0.5 + rng.uniform())))) }));
  const thumb = async (c: readonly number[]) => `data:image/png;base64,${(await solidImage(c, 64, 64)).toString('base64')}`;
  return {
    title: 'SELECT benchmark report (test)',
    generatedAt: '2026-01-01T00:00:00.000Z',
    referenceShift: 'in1000',
    leaderboard: buildLeaderboard(scores, { referenceShift: 'in1000' }),
    classCounts,
    perClassBenchmark: 'imagenet-val',
    perClass: shifts.map((shiftId, s) => ({
      shiftId,
      points: classCounts[s]!.counts.slice(0, 200).map((count, classIndex) => ({ classIndex, className: `c${classIndex}`, count, accuracy: Math.min(100, Math.max(0, 20 + 8 * Math.log1p(count) + 10 * rng.normal())) })),
    })),
    funnel: [
      { strategy: 'substring', shiftId: 'la1000-txt2img', step: 'match', reason: '', kept: true, candidates: 612 },
      { strategy: 'substring', shiftId: 'la1000-txt2img', step: 'match', reason: 'no lemma', kept: false, candidates: 5400 },
      { strategy: 'substring', shiftId: 'la1000-txt2img', step: 'text-similarity', reason: 'below 0.5', kept: false, candidates: 900 },
      { strategy: 'substring', shiftId: 'la1000-txt2img', step: 'contamination', reason: 'near an eval image', kept: false, candidates: 12 },
    ],
    funnelNote: '',
    samples: [
      { shiftId: 'in1000', classes: [{ classIndex: 0, wnid: 'n01440764', thumbnails: [await thumb(COLORS.red), await thumb(COLORS.green)] }, { classIndex: 1, wnid: 'n01443537', thumbnails: [await thumb(COLORS.blue)] }] },
    ],
    notes: ['Fixture data: the numbers only prove the rendering.'],
  };
}

describe('HTML report', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is one self-contained file that renders in headless Chromium with every chart and no console error', async () => {
    const html = renderReport(await sampleData());
    // no network: nothing loaded from elsewhere
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/[^"'\s]*\.(js|css)/);
    expect(html).toContain('Leaderboard');
    const screenshot = join(dir, 'report.png');
    const result = await renderInChromium(html, join(dir, 'report.html'), screenshot);
    expect(result.errors).toEqual([]);
    // 3 metric charts + class counts + per-class scatter + 1 funnel
    expect(result.chartsRendered).toBe(6);
    expect((await stat(screenshot)).size).toBeGreaterThan(20_000);
    if (process.env['REPORT_SCREENSHOT']) await readFile(screenshot).then((png) => import('node:fs/promises').then((fs) => fs.writeFile(process.env['REPORT_SCREENSHOT']!, png)));
  }, 180_000);

  it('reports console errors and uncaught exceptions of a page (the check can fail)', async () => {
    const broken = renderReport(await sampleData()).replace('</body>', '<script>console.error("boom"); notAFunction();</script></body>');
    const result = await renderInChromium(broken, join(dir, 'broken.html'), join(dir, 'broken.png'), '800,600');
    expect(result.errors).toEqual(['console.error: boom', expect.stringMatching(/^uncaught: .*notAFunction/)]);
  }, 180_000);

  it('renders empty sections with a note instead of failing', async () => {
    const empty: ReportData = { ...(await sampleData()), leaderboard: [], classCounts: [], perClass: [], funnel: [], funnelNote: 'no decision table yet', samples: [] };
    const result = await renderInChromium(renderReport(empty), join(dir, 'empty.html'), join(dir, 'empty.png'), '800,600');
    expect(result.errors).toEqual([]);
    expect(result.chartsRendered).toBe(0);
  }, 180_000);
});
