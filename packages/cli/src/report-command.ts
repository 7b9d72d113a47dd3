// `select report`: the self-contained HTML report of every shift and evaluation in ClickHouse (rendering in
// @select/evaluator-service): leaderboard, a chart per metric, class-count distributions, per-class accuracy vs
// count, the curation funnel and sample thumbnails per class.
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { collectReportData, renderReport } from '@select/evaluator-service';
import { createClickHouse } from '@select/metrics';
import { writeFileAtomic } from '@select/platform';
import { CliError, EXIT_CODES } from './errors.js';

interface ReportOptions {
  out: string;
  reference?: string;
  title?: string;
  database?: string;
  perClassBenchmark?: string;
  shiftDir: string[];
  note: string[];
  shift: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerReportCommand(program: Command, state: { exitCode: number }): void {
  program
    .command('report')
    .description('write the self-contained HTML report (leaderboard, charts, class counts, funnel, samples) from ClickHouse')
    .option('-o, --out <file>', 'where to write it', 'select-report.html')
    .option('--reference <shift>', 'shift the gap column compares with (the paper: in1000)')
    .option('--title <text>', 'report title')
    .option('--database <name>', 'database of the sink (default: CLICKHOUSE_DATABASE, else select)')
    .option('--per-class-benchmark <name>', 'evaluation set of the per-class chart (default: imagenet-val, else the first with per-class results)')
    .option('--shift-dir <id=path>', 'a shift directory for the sample grid (repeatable); shifts in shift_status are found by themselves', collect, [])
    .option('--note <text>', 'a line shown under the title (repeatable)', collect, [])
    .option('--shift <id>', 'only this shift in every section (repeatable; default: every shift the database holds)', collect, [])
    .action(async (opts: ReportOptions) => {
      const shiftDirs: Record<string, string> = {};
      for (const pair of opts.shiftDir) {
        const at = pair.indexOf('=');
        if (at < 1) throw new CliError(`--shift-dir ${JSON.stringify(pair)} is not <shift id>=<directory>`, { exitCode: EXIT_CODES.usage });
        shiftDirs[pair.slice(0, at)] = resolve(pair.slice(at + 1));
      }
      const ch = createClickHouse(opts.database ? { database: opts.database } : {});
      try {
        const data = await collectReportData(ch, {
          ...(opts.title ? { title: opts.title } : {}),
          ...(opts.reference ? { referenceShift: opts.reference } : {}),
          ...(opts.perClassBenchmark ? { perClassBenchmark: opts.perClassBenchmark } : {}),
          shiftDirs,
          notes: opts.note,
          ...(opts.shift.length > 0 ? { shifts: opts.shift } : {}),
        }).catch((error: Error) => {
          throw new CliError(`cannot read the evaluation results from ClickHouse: ${error.message.split('\n')[0]}`, {
            exitCode: EXIT_CODES.unavailable,
            hint: 'Is ClickHouse up (`select infra status`) and has the sink created its views (`select sink`)?',
            cause: error,
          });
        });
        const out = resolve(opts.out);
        await mkdir(dirname(out), { recursive: true });
        await writeFileAtomic(out, renderReport(data));
        const rows = data.leaderboard.length;
        process.stdout.write(`report: ${out} (${rows} leaderboard rows, ${data.classCounts.length} shifts with class counts, ${data.samples.length} sample grids)\n`);
        state.exitCode = EXIT_CODES.ok;
      } finally {
        await ch.close();
      }
    });
}
