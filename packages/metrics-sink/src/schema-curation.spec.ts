// The curation tables and views on current ClickHouse (chdb, in the project's Python environment), with
// the semantics the curator relies on: a redone task's rows collapse, a later stage's decision wins, and
// the views count one row per candidate. (The same migrations run on the ClickHouse 18.16 server in the
// sink's and the curator's integration tests.)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CURATION_MIGRATIONS } from './schema-curation.js';

const PYTHON = fileURLToPath(new URL('../../../.work/py/bin/python', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../tools/curation/chdb_migrations.py', import.meta.url));
const hasChdb = existsSync(PYTHON) && (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import chdb'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasChdb)('curation migrations on current ClickHouse (chdb; needs `bash scripts/python-env.sh`)', () => {
  it('create the tables and views; ReplacingMergeTree(stage) keeps one decision per candidate, the latest stage', () => {
    const row = (source: string, step: string, stage: number, kept: number, reason: string, task = 't0') =>
      `('s1', '${source}', 0, '${step}', ${stage}, ${kept}, '${reason}', nan, ${kept ? 3 : -1}, 'substring-match', 'openclipart', '${task}', now())`;
    const insert = (rows: string[]) => `INSERT INTO curation_decisions VALUES ${rows.join(', ')}`;
    const job = {
      statements: [
        ...CURATION_MIGRATIONS.map((m) => m.sql),
        insert([row('a.svg', 'substring-match', 1, 1, 'kept'), row('b.svg', 'substring-match', 1, 0, 'no-lemma'), row('c.svg', 'substring-match', 1, 1, 'kept')]),
        // The same task redone by another worker, and a build-wide cap dropping c.svg at a later stage.
        insert([row('a.svg', 'substring-match', 1, 1, 'kept', 't0-redo'), row('b.svg', 'substring-match', 1, 0, 'no-lemma', 't0-redo')]),
        insert([row('c.svg', 'max-per-class', 2, 0, 'over-class-cap', 'build')]),
        "INSERT INTO curation_label_mappings VALUES ('s1', '/m/01', 'Goldfish', 'n01443537', 1, 'normalized-lemma', 'goldfish.n.01', 7, now())",
      ],
      queries: {
        decisions: 'SELECT source_id, step, kept, reason FROM curation_decisions FINAL ORDER BY source_id',
        kept: 'SELECT shift_id, strategy, class_index, source, samples FROM curation_kept_per_class',
        drops: 'SELECT step, reason, candidates FROM curation_drops ORDER BY step',
        mappings: 'SELECT label, wnid, rule, images FROM curation_label_mappings FINAL',
      },
    };
    const out = JSON.parse(execFileSync(PYTHON, [SCRIPT], { input: JSON.stringify(job), encoding: 'utf8' })) as {
      version: string;
      results: Record<string, Array<Record<string, unknown>>>;
    };
    expect(Number(out.version.split('.')[0])).toBeGreaterThanOrEqual(23);
    expect(out.results['decisions']).toEqual([
      { source_id: 'a.svg', step: 'substring-match', kept: 1, reason: 'kept' },
      { source_id: 'b.svg', step: 'substring-match', kept: 0, reason: 'no-lemma' },
      { source_id: 'c.svg', step: 'max-per-class', kept: 0, reason: 'over-class-cap' },
    ]);
    // Current versions write 64-bit counts as JSON numbers, 18.16 as strings: compare as numbers.
    const numbers = (rows: Array<Record<string, unknown>> | undefined, field: string) => (rows ?? []).map((r) => ({ ...r, [field]: Number(r[field]) }));
    expect(numbers(out.results['kept'], 'samples')).toEqual([{ shift_id: 's1', strategy: 'substring-match', class_index: 3, source: 'openclipart', samples: 1 }]);
    expect(numbers(out.results['drops'], 'candidates')).toEqual([
      { step: 'max-per-class', reason: 'over-class-cap', candidates: 1 },
      { step: 'substring-match', reason: 'no-lemma', candidates: 1 },
    ]);
    expect(numbers(out.results['mappings'], 'images')).toEqual([{ label: '/m/01', wnid: 'n01443537', rule: 'normalized-lemma', images: 7 }]);
  });
});
