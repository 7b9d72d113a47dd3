// The split sizes the trainer checks a probe request against are the ones linear_probe.py draws: the same
// rounding (Python's, halves to even), compared with the script's own split_indices over a grid.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROBE_SCRIPT, minProbeSamples, probeSplitSizes } from './linear-probe-run.js';
import { PYTHON } from './trainer-test-kit.test-util.js';

const FRACTIONS: Array<[number, number]> = [
  [0.1, 0.1],
  [0.2, 0.1],
  [0.05, 0.3],
  [0.25, 0.25],
  [0.125, 0.125],
  [0.01, 0.1],
  [0.49, 0.49],
];

describe('linear-probe split sizes', () => {
  it('the fewest samples a probe can split: 6 at the default 0.1 / 0.1 (5 would give a val split of round(0.5) = 0)', () => {
    expect(probeSplitSizes(5, 0.1, 0.1)).toEqual({ train: 5, val: 0, test: 0 });
    expect(probeSplitSizes(6, 0.1, 0.1)).toEqual({ train: 4, val: 1, test: 1 });
    expect(FRACTIONS.map(([v, t]) => minProbeSamples(v, t))).toEqual([6, 6, 11, 3, 5, 51, 3]);
  });

  it.skipIf(!existsSync(PYTHON))('match linear_probe.py split_indices for every n up to 120 at each pair of fractions', async () => {
    const program = [
      'import json, sys, importlib.util',
      `spec = importlib.util.spec_from_file_location("probe", ${JSON.stringify(PROBE_SCRIPT)})`,
      'probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)',
      'out = {}',
      `for v, t in ${JSON.stringify(FRACTIONS)}:`,
      '    for n in range(1, 121):',
      '        try:',
      '            tr, va, te = probe.split_indices(n, v, t, 0)',
      '            out[f"{v} {t} {n}"] = [len(tr), len(va), len(te)]',
      '        except SystemExit:',
      '            out[f"{v} {t} {n}"] = None',
      'print(json.dumps(out))',
    ].join('\n');
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', program], { timeout: 60_000 });
    const python = JSON.parse(stdout) as Record<string, [number, number, number] | null>;
    for (const [v, t] of FRACTIONS) {
      for (let n = 1; n <= 120; n++) {
        const s = probeSplitSizes(n, v, t);
        const fits = s.train >= 1 && s.val >= 1 && s.test >= 1;
        expect(fits ? [s.train, s.val, s.test] : null, `${v} ${t} ${n}`).toEqual(python[`${v} ${t} ${n}`]);
      }
    }
  }, 90_000);
});
