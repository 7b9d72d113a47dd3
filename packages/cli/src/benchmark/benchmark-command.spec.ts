// `select benchmark` before anything runs (the built CLI as a child process): services the config enables but that are
// not running stop it at once with the command that starts them; bad options are usage errors. The whole job against
// running services is test/e2e/benchmark.e2e.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runSelect } from '../cli.test-util.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-benchmark-'));
const configFile = join(dir, 'select.services.json');

beforeAll(async () => {
  // every service on a port nothing listens on, its data (pid files) in an empty folder: all of them stopped;
  // generation disabled, as a deployment without it has it
  const port = (n: number) => ({ port: 1 + n });
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: join(dir, 'services'),
      services: {
        'metrics-sink': port(0),
        embedding: { ...port(1), models: {} },
        retrieval: port(2),
        generation: { enabled: false },
        curator: port(3),
        'curator-worker': { replicas: 1 },
        trainer: port(4),
        evaluator: port(5),
      },
    }),
  );
  await buildCli();
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('select benchmark, before it starts', () => {
  it('services the config enables but that are not running: exit 3 before any stage, naming them and the command that starts them', async () => {
    const run = await runSelect(['benchmark', '--config', configFile, '--out', join(dir, 'out')]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(
      'select: services the config enables are not running: metrics-sink (stopped), embedding (stopped), retrieval (stopped), curator (stopped), curator-worker-1 (stopped), trainer (stopped), evaluator (stopped)',
    );
    expect(run.stderr).toContain(`npx select services up --config ${configFile}`);
    expect(run.stderr).not.toContain('generation');
    expect(run.stdout).not.toContain('==> [2/');
  });

  it('bad options are usage errors (exit 2) naming the option', async () => {
    const shifts = await runSelect(['benchmark', '--config', configFile, '--shifts', 'substring,nope']);
    expect(shifts.code).toBe(2);
    expect(shifts.stderr).toContain('--shifts: unknown nope; known: substring, substring-textsim, img2img, txt2img, sd-txt2img');
    const limit = await runSelect(['benchmark', '--config', configFile, '--pool-limit', '10x']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('expected a whole number ≥ 0, got "10x"');
    const missing = await runSelect(['benchmark', '--config', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.json');
  });
});
