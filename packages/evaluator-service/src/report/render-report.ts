// The self-contained HTML report: one file, no network. Chart.js (its UMD build) and the data are inlined; the
// charts are drawn in the browser. Sections: leaderboard, a chart per metric across shifts, class-count
// distributions (log scale), per-class accuracy vs class count, the curation funnel, an image grid per shift.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ReportData } from './report-data.js';

let chartJs: string | undefined;

/** Chart.js's UMD bundle, read once from the installed package. */
function chartLibrary(): string {
  if (chartJs === undefined) {
    const entry = createRequire(import.meta.url).resolve('chart.js');
    chartJs = readFileSync(join(dirname(entry), 'chart.umd.min.js'), 'utf8');
  }
  return chartJs;
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
const fmt = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');

function leaderboardTable(data: ReportData): string {
  const rows = data.leaderboard.filter((r) => !r.metric.startsWith('class_'));
  if (rows.length === 0) return '<p class="empty">No evaluation results yet.</p>';
  const body = rows
    .map(
      (r) => `<tr><td>${escapeHtml(r.benchmark)}</td><td>${escapeHtml(r.metric)}</td><td>${escapeHtml(r.shiftId)}</td><td class="num">${fmt(r.mean)}</td><td class="num">${r.n > 1 ? fmt(r.std) : '–'}</td><td class="num">${r.n > 1 ? `${fmt(r.ciLow)} … ${fmt(r.ciHigh)}` : '–'}</td><td class="num">${r.n}</td><td class="num">${r.rank}</td><td class="num">${data.referenceShift ? fmt(r.gap) : '–'}</td></tr>`,
    )
    .join('\n');
  return `<table class="board"><thead><tr><th>evaluation</th><th>metric</th><th>shift</th><th>mean</th><th>std</th><th>95 % interval</th><th>seeds</th><th>rank</th><th>gap to ${escapeHtml(data.referenceShift || 'reference')}</th></tr></thead><tbody>
${body}
</tbody></table>`;
}

function funnelTable(data: ReportData): string {
  if (data.funnel.length === 0) return `<p class="empty">No curation funnel: ${escapeHtml(data.funnelNote || 'no decisions')}.</p>`;
  return `<table class="board"><thead><tr><th>strategy</th><th>shift</th><th>step</th><th>outcome</th><th>reason</th><th>candidates</th></tr></thead><tbody>
${data.funnel.map((f) => `<tr><td>${escapeHtml(f.strategy)}</td><td>${escapeHtml(f.shiftId)}</td><td>${escapeHtml(f.step)}</td><td>${f.kept ? 'kept' : 'dropped'}</td><td>${escapeHtml(f.reason)}</td><td class="num">${f.candidates}</td></tr>`).join('\n')}
</tbody></table>`;
}

function sampleGrids(data: ReportData): string {
  if (data.samples.length === 0) return '<p class="empty">No shift directory was readable for samples.</p>';
  return data.samples
    .map(
      (g) => `<div class="grid"><h3>${escapeHtml(g.shiftId)}</h3>${g.classes
        .map((c) => `<div class="grid-row"><span class="cls">${escapeHtml(c.wnid)}</span>${c.thumbnails.map((t) => `<img src="${t}" width="64" height="64" alt="${escapeHtml(c.wnid)}">`).join('')}</div>`)
        .join('')}</div>`,
    )
    .join('\n');
}

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:1px solid #d7dce3;padding-bottom:4px}.meta{color:#5b6675}
table.board{border-collapse:collapse;font-size:13px;margin:8px 0}table.board th,table.board td{border:1px solid #d7dce3;padding:3px 8px}
table.board th{background:#f2f4f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}.chart{border:1px solid #e3e7ec;border-radius:6px;padding:8px;height:300px}
.wide{height:380px;border:1px solid #e3e7ec;border-radius:6px;padding:8px}.empty{color:#8a94a3;font-style:italic}
.grid{display:inline-block;vertical-align:top;margin:0 24px 16px 0}.grid-row{display:flex;align-items:center;gap:4px;margin:2px 0}
.grid-row img{border-radius:3px}.cls{display:inline-block;width:90px;font-size:12px;color:#5b6675}ul.notes{color:#5b6675}`;

/** Draws every chart from the inlined data; sets body[data-charts-rendered] to the number drawn. */
const CLIENT = `(function(){
const data = JSON.parse(document.getElementById('report-data').textContent);
const palette = ['#3366cc','#dc3912','#ff9900','#109618','#990099','#0099c6','#dd4477','#66aa00','#b82e2e','#316395'];
const color = (i) => palette[i % palette.length];
let rendered = 0;
function chart(parent, config, wide) {
  const box = document.createElement('div'); box.className = wide ? 'wide' : 'chart';
  const canvas = document.createElement('canvas'); box.appendChild(canvas); parent.appendChild(box);
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  new Chart(canvas, config); rendered++;
}
// a chart per metric across shifts: mean bars and the 95 % interval as floating bars
const metrics = document.getElementById('metric-charts');
const groups = new Map();
for (const r of data.leaderboard) { if (r.metric.startsWith('class_')) continue; const k = r.benchmark + ' · ' + r.metric; if (!groups.has(k)) groups.set(k, []); groups.get(k).push(r); }
for (const [title, rows] of groups) {
  rows.sort((a, b) => a.shiftId < b.shiftId ? -1 : 1);
  chart(metrics, { type: 'bar', data: { labels: rows.map((r) => r.shiftId), datasets: [
    { label: 'mean', data: rows.map((r) => r.mean), backgroundColor: rows.map((_, i) => color(i)), order: 1 },
    { label: '95 % interval', data: rows.map((r) => [r.ciLow, r.ciHigh]), backgroundColor: 'rgba(20,20,20,0.55)', barPercentage: 0.12, order: 0 } ] },
    options: { plugins: { title: { display: true, text: title }, legend: { display: false } }, scales: { x: { stacked: true } } } });
}
// class-count distributions: classes ranked by count, log scale
const counts = document.getElementById('class-counts');
if (data.classCounts.length) chart(counts, { type: 'line', data: { datasets: data.classCounts.map((s, i) => ({
  label: s.shiftId, borderColor: color(i), backgroundColor: color(i), pointRadius: 0, borderWidth: 2,
  data: s.counts.slice().sort((a, b) => b - a).map((c, rank) => ({ x: rank + 1, y: c })).filter((p) => p.y > 0) })) },
  options: { parsing: false, plugins: { title: { display: true, text: 'samples per class, classes ranked by count (empty classes not drawn)' } },
    scales: { x: { type: 'linear', title: { display: true, text: 'class rank' } }, y: { type: 'logarithmic', title: { display: true, text: 'samples (log)' } } } } }, true);
// per-class accuracy against the class's count
const scatter = document.getElementById('per-class');
if (data.perClass.length) chart(scatter, { type: 'scatter', data: { datasets: data.perClass.map((s, i) => ({
  label: s.shiftId, backgroundColor: color(i), pointRadius: 3,
  data: s.points.map((p) => ({ x: Math.max(p.count, 0.5), y: p.accuracy, name: p.className })) })) },
  options: { plugins: { title: { display: true, text: 'per-class accuracy (' + data.perClassBenchmark + ') vs samples of the class (0 drawn at 0.5)' } },
    scales: { x: { type: 'logarithmic', title: { display: true, text: 'samples of the class in the shift (log)' },
      ticks: { autoSkip: false, maxRotation: 0, callback: (v) => [0.5, 1, 10, 100, 1000, 10000, 100000, 1000000].includes(Number(v)) ? String(v) : '' } }, y: { min: 0, max: 100, title: { display: true, text: 'accuracy %' } } } } }, true);
// curation funnel: per strategy and shift, kept and dropped candidates by step and reason
const funnel = document.getElementById('funnel');
const builds = new Map();
for (const f of data.funnel) { const k = f.strategy + ' · ' + f.shiftId; if (!builds.has(k)) builds.set(k, []); builds.get(k).push(f); }
for (const [title, rows] of builds) {
  chart(funnel, { type: 'bar', data: { labels: rows.map((f) => f.kept ? 'kept' : f.step + ': ' + (f.reason || 'dropped')),
    datasets: [{ label: 'candidates', data: rows.map((f) => f.candidates), backgroundColor: rows.map((f) => f.kept ? '#109618' : '#dc3912') }] },
    options: { indexAxis: 'y', plugins: { title: { display: true, text: title }, legend: { display: false } } } });
}
document.body.dataset.chartsRendered = String(rendered);
})();`;

/** The whole report as one HTML string. */
export function renderReport(data: ReportData): string {
  const library = chartLibrary().replace(/<\/script/gi, '<\\/script');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
<script>${library}</script>
</head>
<body>
<h1>${escapeHtml(data.title)}</h1>
<p class="meta">Generated ${escapeHtml(data.generatedAt)}${data.referenceShift ? ` · reference shift ${escapeHtml(data.referenceShift)}` : ''} · ranks tie where 95 % intervals over seeds overlap</p>
${data.notes.length ? `<ul class="notes">${data.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
<h2>Leaderboard</h2>
${leaderboardTable(data)}
<h2>Metrics across shifts</h2>
<div class="charts" id="metric-charts"></div>
<h2>Class-count distributions</h2>
<div id="class-counts">${data.classCounts.length ? '' : '<p class="empty">No class counts yet (AnalyzeShift or shift samples in ClickHouse).</p>'}</div>
<h2>Per-class accuracy vs class count</h2>
<div id="per-class">${data.perClass.length ? '' : '<p class="empty">No per-class accuracy with class counts yet.</p>'}</div>
<h2>Curation funnel</h2>
<div class="charts" id="funnel"></div>
${funnelTable(data)}
<h2>Samples per class</h2>
${sampleGrids(data)}
<script type="application/json" id="report-data">${scriptJson({ ...data, samples: [] })}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
