#!/usr/bin/env node
// The curator's real-data runs, reproduced by one command (after `npm run build`, with Kafka up):
//
//   node tools/curation/run_real_data.mjs [--out .work/real-data] [--oi-images 2000] [--skip-calibration]
//
// 1. exports all-MiniLM-L6-v2 to ONNX (tools/models/export_minilm.py; idempotent),
// 2. writes an OpenImages-format pool (tools/openimages/make_pool.mjs) unless it exists,
// 3. starts the embedding service (MiniLM) and the curator (2 local workers) as child processes on free ports,
// 4. builds over the Debian openclipart pool (/usr/share/openclipart/svg, ~8,100 SVGs):
//      la-substring      strategy 2 (LAIONet substring matching)
//      la-txt2img-minilm strategies 2 + 3 (text similarity with all-MiniLM-L6-v2 at its calibrated threshold)
//      calibration       strategies 2 + 3 with threshold -1 as a dry run: every substring match's MiniLM score
//    and over the OpenImages-format pool:
//      oi-schema-mapping strategy 1,
// 5. writes tools/curation/results/real-data.json (counts per class, drops per reason, unmapped labels,
//    the calibration) and prints a summary.
// Decisions, samples and shift events go to the default topics: a running metrics sink lands them.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packageDefinition } from '@select/contracts';
import { createGrpcClient, unary } from '@select/platform';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, '.work', 'real-data') },
    'oi-images': { type: 'string', default: '2000' },
    'skip-calibration': { type: 'boolean', default: false },
  },
});
const OUT = resolve(values.out);
const PYTHON = join(ROOT, '.work', 'py', 'bin', 'python');
const MINILM = join(ROOT, '.work', 'models', 'all-minilm-l6-v2');
const JUDGED = join(ROOT, 'tools', 'curation', 'calibration', 'openclipart-minilm-judged.csv');
const RESULTS = join(ROOT, 'tools', 'curation', 'results', 'real-data.json');
const log = (msg) => process.stderr.write(`[real-data] ${msg}\n`);

for (const dist of ['curator', 'embedding-service', 'cli']) {
  if (!existsSync(join(ROOT, 'packages', dist, 'dist'))) {
    console.error(`packages/${dist}/dist is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}
mkdirSync(OUT, { recursive: true });

log('exporting all-MiniLM-L6-v2 (idempotent)');
const exported = spawnSync(PYTHON, [join(ROOT, 'tools', 'models', 'export_minilm.py')], { encoding: 'utf8' });
if (exported.status !== 0) {
  console.error(exported.stderr);
  process.exit(1);
}
// The embedding service serves every folder of its models directory: give it one holding only MiniLM.
const modelsDir = join(OUT, 'models');
if (!existsSync(join(modelsDir, 'all-minilm-l6-v2', 'onnx', 'model.onnx'))) {
  mkdirSync(modelsDir, { recursive: true });
  cpSync(MINILM, join(modelsDir, 'all-minilm-l6-v2'), { recursive: true });
}

const oiPool = join(OUT, 'openimages');
if (!existsSync(join(oiPool, 'oidv7-class-descriptions.csv'))) {
  log(`writing an OpenImages-format pool of ${values['oi-images']} images`);
  const made = spawnSync(process.execPath, [join(ROOT, 'tools', 'openimages', 'make_pool.mjs'), '--out', oiPool, '--images', values['oi-images'], '--seed', '7'], { encoding: 'utf8' });
  if (made.status !== 0) {
    console.error(made.stderr);
    process.exit(1);
  }
}

/** Starts a service from its dist, resolves with its address once it logs `listening`. */
function startService(pkg, env, listening, args = []) {
  const child = spawn(process.execPath, [join(ROOT, 'packages', pkg, 'dist', 'main.js'), ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveAddress, reject) => {
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line);
          if (entry.msg === listening) resolveAddress({ child, address: entry.address });
        } catch {
          // not JSON
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${pkg} exited with ${code} before it listened`)));
  });
}

const children = [];
const stopAll = () => children.forEach((c) => c.kill('SIGTERM'));
process.once('SIGINT', () => {
  stopAll();
  process.exit(130);
});

try {
  log('starting the embedding service (all-MiniLM-L6-v2)');
  const embedding = await startService('embedding-service', { EMBEDDING_MODELS_DIR: modelsDir, EMBEDDING_PORT: '0', EMBEDDING_PUBLISH_JOB_EVENTS: 'false' }, 'embedding service listening');
  children.push(embedding.child);
  log('starting the curator (2 local workers)');
  const curator = await startService(
    'curator',
    { CURATOR_PORT: '0', CURATOR_DATA_DIR: join(OUT, 'curator'), CURATOR_LOCAL_WORKERS: '2', CURATOR_EMBEDDING_ADDRESS: embedding.address, CURATOR_WORKER_GROUP: 'select-curator-real-data' },
    'curator listening',
  );
  children.push(curator.child);
  const client = createGrpcClient(packageDefinition('curation'), 'select.curation.v1.CuratorService', curator.address, { defaultDeadlineMs: 600_000 });

  const build = async (request) => {
    const started = Date.now();
    const job = await unary(client, 'StartCuration', request);
    let status = job;
    while (!['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(status.state)) {
      await new Promise((r) => setTimeout(r, 1000));
      status = await unary(client, 'GetJob', { jobId: job.jobId });
      process.stderr.write(`\r[real-data] ${request.shiftName}: ${status.done}/${status.total} ${status.message}`.padEnd(100));
    }
    process.stderr.write('\n');
    if (status.state !== 'JOB_STATE_SUCCEEDED') throw new Error(`${request.shiftName}: ${status.state} ${status.message}`);
    const report = JSON.parse(readFileSync(join(job.outputUri, request.dryRun ? 'dry_run_counts.json' : 'build.json'), 'utf8'));
    return { shiftId: job.jobId, outputUri: job.outputUri, seconds: (Date.now() - started) / 1000, message: status.message, report };
  };
  const openclipart = { uri: '/usr/share/openclipart/svg', format: 'openclipart', name: 'openclipart' };
  const substring = { name: 'substring-match', paramsJson: '{}' };

  const results = { machine: `${process.platform} ${process.arch}, node ${process.version}`, generatedAt: new Date().toISOString(), runs: {} };
  const summarize = (run, imagenet) => ({
    shiftId: run.shiftId,
    seconds: run.seconds,
    message: run.message,
    candidates: run.report.candidates,
    samples: run.report.samples,
    classes: run.report.classes,
    dropped: run.report.dropped,
    perClass: Object.fromEntries(
      Object.entries(run.report.perClass)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([wnid, n]) => [`${wnid} ${imagenet.get(wnid) ?? ''}`.trim(), n]),
    ),
  });
  const { loadImageNetTaxonomy } = await import('@select/taxonomy');
  const imagenet = new Map(loadImageNetTaxonomy().classes.map((c) => [c.wnid, c.label]));

  if (!values['skip-calibration']) {
    log('calibration: every substring match of openclipart with its MiniLM score (dry run)');
    const calibration = await build({
      shiftName: 'calibration-minilm',
      pool: openclipart,
      steps: [substring, { name: 'text-similarity', paramsJson: JSON.stringify({ model: 'all-minilm-l6-v2', threshold: -1 }) }],
      dryRun: true,
    });
    const rows = [];
    const tasks = join(calibration.outputUri, '.build', 'tasks');
    for (const task of readdirSync(tasks).filter((t) => !t.endsWith('.json')).sort()) {
      for (const line of readFileSync(join(tasks, task, 'kept.jsonl'), 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        rows.push({ sourceId: r.sourceId, wnid: r.wnid, label: imagenet.get(r.wnid), score: r.score, caption: r.caption });
      }
    }
    rows.sort((a, b) => a.score - b.score);
    writeFileSync(join(OUT, 'calibration-scores.json'), `${JSON.stringify(rows, null, 1)}\n`);
    results.calibration = calibrate(rows);
  }

  const threshold = results.calibration?.chosenThreshold;
  results.runs['la-substring'] = summarize(await build({ shiftName: 'la-substring-openclipart', pool: openclipart, steps: [substring] }), imagenet);
  results.runs['la-txt2img-minilm'] = summarize(
    await build({
      shiftName: 'la-txt2img-openclipart-minilm',
      pool: openclipart,
      steps: [substring, { name: 'text-similarity', paramsJson: JSON.stringify({ model: 'all-minilm-l6-v2', ...(threshold === undefined ? {} : { threshold }) }) }],
    }),
    imagenet,
  );
  const oi = await build({
    shiftName: 'oi-schema-mapping',
    pool: {
      format: 'openimages',
      uri: oiPool,
      name: 'openimages-format-demo',
      labelUris: [join(oiPool, 'oidv7-train-annotations-human-imagelabels.csv'), join(oiPool, 'oidv7-train-annotations-machine-imagelabels.csv')],
      classDescriptionsUri: join(oiPool, 'oidv7-class-descriptions.csv'),
      hierarchyUri: join(oiPool, 'bbox_labels_600_hierarchy.json'),
      imagesUri: join(oiPool, 'train'),
    },
    steps: [{ name: 'schema-mapping', paramsJson: '{}' }],
  });
  results.runs['oi-schema-mapping'] = {
    ...summarize(oi, imagenet),
    mapping: readFileSync(join(oi.outputUri, 'label_mapping.csv'), 'utf8').trim().split('\n'),
    unmapped: readFileSync(join(oi.outputUri, 'unmapped_labels.csv'), 'utf8').trim().split('\n'),
  };
  client.close();
  mkdirSync(join(ROOT, 'tools', 'curation', 'results'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  for (const [name, run] of Object.entries(results.runs)) console.log(`${name}: ${run.message} (${run.seconds.toFixed(1)} s)`);
  if (results.calibration) console.log(`MiniLM threshold: ${JSON.stringify(results.calibration.summary)}`);
  console.log(`results: ${RESULTS}`);
} finally {
  stopAll();
}

/**
 * The MiniLM threshold from hand-judged substring matches (tools/curation/calibration/
 * openclipart-minilm-judged.csv: source_id,correct — 1 when the clip art really shows the matched class,
 * 0 when the lemma matched another sense or a mere mention). The threshold kept is the one that maximises
 * F1 of "correct" over the judged sample, among the midpoints between consecutive judged scores.
 */
function calibrate(rows) {
  const scored = new Map(rows.map((r) => [r.sourceId, r]));
  if (!existsSync(JUDGED)) return { note: `no judgements yet (${JUDGED})`, matches: rows.length };
  const judged = readFileSync(JUDGED, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [sourceId, correct] = line.split(',');
      return { sourceId, correct: correct === '1', score: scored.get(sourceId)?.score };
    })
    .filter((j) => j.score !== undefined);
  const positives = judged.filter((j) => j.correct).length;
  const scores = [...new Set(judged.map((j) => j.score))].sort((a, b) => a - b);
  let best = { threshold: -1, f1: 0, precision: 0, recall: 0, kept: 0 };
  const candidates = [-1, ...scores.slice(0, -1).map((s, i) => (s + scores[i + 1]) / 2)];
  for (const threshold of candidates) {
    const kept = judged.filter((j) => j.score > threshold);
    const tp = kept.filter((j) => j.correct).length;
    const precision = kept.length === 0 ? 0 : tp / kept.length;
    const recall = positives === 0 ? 0 : tp / positives;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    if (f1 > best.f1) best = { threshold, f1, precision, recall, kept: kept.length };
  }
  const chosenThreshold = Math.round(best.threshold * 100) / 100;
  const keptAll = rows.filter((r) => r.score > chosenThreshold).length;
  return {
    matches: rows.length,
    judged: judged.length,
    judgedCorrect: positives,
    chosenThreshold,
    summary: {
      threshold: chosenThreshold,
      judged: judged.length,
      precisionAtThreshold: Number(best.precision.toFixed(3)),
      recallAtThreshold: Number(best.recall.toFixed(3)),
      f1: Number(best.f1.toFixed(3)),
      precisionWithoutFilter: Number((positives / Math.max(1, judged.length)).toFixed(3)),
      matchesKept: `${keptAll}/${rows.length}`,
    },
  };
}
