// `select curate` (the built CLI, as a child process) against a real curator on port 0 with real Kafka.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStepRegistry, curatorConfigSchema, CuratorWorker, startCuratorServer, type CuratorServer } from '@select/curator';
import { createLogger, resolveConfig } from '@select/platform';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runSelect, startSelect } from './cli.test-util.js';
import { fitToWidth, progressLine } from './curate-command.js';

const BROKERS = testBrokers();
const id = randomBytes(4).toString('hex');
const prefix = `t-clicur-${id}-`;
const dir = mkdtempSync(join(tmpdir(), 'cli-curate-'));
const silent = createLogger({ service: 'cli-curate-test', level: 'silent' });
const pool = join(dir, 'pool');

function svg(title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" width="32" height="32"><metadata><rdf:RDF><cc:Work><dc:title>${title}</dc:title></cc:Work></rdf:RDF></metadata><rect width="20" height="20" fill="red"/></svg>`;
}

let withWorker: CuratorServer;
let withoutWorker: CuratorServer;

beforeAll(async () => {
  mkdirSync(join(pool, 'a'), { recursive: true });
  for (const [name, title] of [['1', 'tench'], ['2', 'a tench'], ['3', 'a cloud']]) writeFileSync(join(pool, 'a', `${name}.svg`), svg(title!));
  // Each curator on topics of its own: the workers of one would otherwise take the other's tasks.
  const config = (localWorkers: number, data: string) =>
    resolveConfig(curatorConfigSchema, { port: 0, dataDir: join(dir, data), kafkaBrokers: BROKERS, kafkaTopicPrefix: `${prefix}${data}-`, workerGroupId: `${prefix}workers-${data}`, localWorkers, sessionTimeoutMs: 6000, progressIntervalMs: 50 }, {});
  [withWorker, withoutWorker] = await Promise.all([startCuratorServer(config(1, 'one'), { logger: silent }), startCuratorServer(config(0, 'none'), { logger: silent }), buildCli()]);
}, 180_000);

afterAll(async () => {
  await withWorker?.close();
  await withoutWorker?.close();
  await deleteTopicsWithPrefix(prefix, BROKERS);
  rmSync(dir, { recursive: true, force: true });
});

describe('select curate', () => {
  it('start --watch shows progress with rate and ETA and ends with the result; list, show and --json report the shift', async () => {
    const address = withWorker.address;
    const run = await runSelect(['curate', 'start', '--address', address, '--name', 'cli-test', '--pool', pool, '--format', 'openclipart', '--step', 'substring-match', '--task-size', '2', '--skip-gate', 'cli test pool', '--watch']);
    expect(run.stderr).toMatch(/\[#+\] 100\.0%  3\/3 candidates  \d+\/s  ETA -  2 samples in 1 classes/);
    expect(run.code).toBe(0);
    const shiftId = /^(\S+): succeeded — 2 samples in 1 classes from 3 candidates \(1 dropped\)$/m.exec(run.stdout)?.[1];
    expect(shiftId).toMatch(/^cli-test-[0-9a-f]{12}$/);

    const list = await runSelect(['curate', 'list', '--address', address, '--json']);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ shiftId, samples: '2', classes: 1, state: 'JOB_STATE_SUCCEEDED', dryRun: false })]);
    const show = await runSelect(['curate', 'show', shiftId!, '--address', address]);
    expect(show.stdout).toMatch(/^0\s+n01440764\s+2$/m);
    // by its name: the one shift whose id starts so
    const byName = await runSelect(['curate', 'show', 'cli-test', '--address', address]);
    expect(byName.stdout).toBe(show.stdout);

    const dry = await runSelect(['curate', 'start', '--address', address, '--name', 'cli-test', '--pool', pool, '--format', 'openclipart', '--step', 'substring-match', '--dry-run', '--watch', '--json']);
    const statuses = dry.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string; message: string });
    expect(statuses.at(-1)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', message: 'dry run: 2 samples in 1 classes from 3 candidates (1 dropped)' });
    // now two shifts' ids start with the name: it names both and asks for more
    const ambiguous = await runSelect(['curate', 'show', 'cli-test', '--address', address]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/"cli-test" could be 2 shifts: cli-test-[0-9a-f]{12}, cli-test-[0-9a-f]{12}; give more of the id/);
    expect(ambiguous.stderr).toContain(shiftId);

    const strategies = await runSelect(['curate', 'strategies', '--address', address]);
    expect(strategies.stdout).toMatch(/^substring-match \(strategy; LA1000 txt2img/m);
  });

  it('cancel stops a build; resume finishes it from its committed tasks', async () => {
    const address = withoutWorker.address;
    const start = await runSelect(['curate', 'start', '--address', address, '--name', 'cancel-me', '--pool', pool, '--format', 'openclipart', '--step', 'substring-match', '--skip-gate', 'cli test pool', '--json']);
    expect(start.code).toBe(0);
    const { jobId } = JSON.parse(start.stdout) as { jobId: string };
    const cancel = await runSelect(['curate', 'cancel', jobId, '--address', address]);
    expect(cancel.stdout).toBe(`${jobId}: cancelled\n`);
    // show says it stopped and how to go on (by name: the one shift whose id starts so)
    const shown = await runSelect(['curate', 'show', 'cancel-me', '--address', address]);
    expect(shown.stdout).toContain(`${jobId}: 0 samples in 0 classes (JOB_STATE_CANCELLED)`);
    expect(shown.stdout).toMatch(/^cancelled at 0\/3 candidates: .+$/m);
    expect(shown.stdout).toContain(`resume it (committed tasks are kept): select curate resume ${jobId} --address ${address}`);
    // A worker joins; resume reruns the build and it completes.
    const worker = new CuratorWorker({ registry: createStepRegistry(), services: {}, logger: silent, brokers: BROKERS, topicPrefix: `${prefix}none-`, groupId: `${prefix}workers-none`, sessionTimeoutMs: 6000 });
    await worker.start();
    try {
      const resumed = await runSelect(['curate', 'resume', jobId, '--address', address, '--watch']);
      expect(resumed.stdout).toContain(`${jobId}: succeeded — 2 samples in 1 classes from 3 candidates`);
      expect(resumed.code).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('Ctrl-C while watching stops the command only (exit 130, with how to follow or cancel); the build goes on in the curator', async () => {
    const address = withoutWorker.address; // no worker: the build waits for one, so it is running when the signal comes
    const start = await runSelect(['curate', 'start', '--address', address, '--name', 'interrupt-me', '--pool', pool, '--format', 'openclipart', '--step', 'substring-match', '--skip-gate', 'cli test pool', '--json']);
    const { jobId } = JSON.parse(start.stdout) as { jobId: string };
    const watcher = startSelect(['curate', 'watch', jobId, '--address', address]);
    let stderr = '';
    watcher.child.stderr?.on('data', (chunk: string) => (stderr += chunk));
    for (let i = 0; i < 200 && !stderr.includes('candidates'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain('candidates'); // the progress line is out: the watch is running
    watcher.child.kill('SIGINT');
    expect(await watcher.exited).toBe(130);
    for (let i = 0; i < 40 && !stderr.includes('cancel it:'); i++) await new Promise((r) => setTimeout(r, 50)); // the pipe's last bytes
    expect(stderr).toContain(`select: stopped following ${jobId}; the build goes on in the curator.`);
    expect(stderr).toContain(`follow it again: select curate watch ${jobId} --address ${address}`);
    expect(stderr).toContain(`cancel it:       select curate cancel ${jobId} --address ${address}`);
    const list = await runSelect(['curate', 'list', '--address', address, '--json']);
    expect((JSON.parse(list.stdout) as Array<{ shiftId: string; state: string }>).find((s) => s.shiftId === jobId)?.state).toBe('JOB_STATE_RUNNING');
    // show says where the running build is and how to follow it
    const shown = await runSelect(['curate', 'show', 'interrupt-me', '--address', address]);
    expect(shown.stdout).toMatch(/^running: 0\/3 candidates — 0\/1 tasks committed/m);
    expect(shown.stdout).toContain(`follow it: select curate watch ${jobId} --address ${address}`);
    expect(shown.stdout).not.toContain("(0 rows)");
    expect((await runSelect(['curate', 'cancel', jobId, '--address', address])).stdout).toBe(`${jobId}: cancelled\n`);
  });

  it('says what is wrong: a bad chain exits 2 with the server\'s message, an unreachable curator exits 3 with a hint', async () => {
    const bad = await runSelect(['curate', 'start', '--address', withWorker.address, '--name', 'x', '--pool', pool, '--format', 'openclipart', '--step', 'frobnicate']);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown curation step "frobnicate"') });
    // no contamination gate and no --skip-gate: refused, and the message names both fixes
    const ungated = await runSelect(['curate', 'start', '--address', withWorker.address, '--name', 'x', '--pool', pool, '--format', 'openclipart', '--step', 'substring-match']);
    expect(ungated.code).not.toBe(0);
    expect(ungated.stderr).toMatch(/no contamination-gate step.*--skip-gate/);
    const down = await runSelect(['curate', 'list', '--address', '127.0.0.1:1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/the curator at 127\.0\.0\.1:1 did not answer/);
    expect(down.stderr).toContain('CURATOR_ADDRESS');
  });

  it('fitToWidth: a terminal progress line never wraps (it could not be redrawn in place)', () => {
    const line = '[....]   0.0%  0/7,458 candidates  0/s  ETA -  0/8 tasks committed; preparing (2 workers): embedding the pool /usr/share/openclipart/svg: 2750/7458 samples';
    expect(fitToWidth(line, 80)).toHaveLength(79);
    expect(fitToWidth(line, 80).endsWith('…')).toBe(true);
    expect(fitToWidth(line, 80).startsWith('[....]   0.0%  0/7,458 candidates')).toBe(true);
    expect(fitToWidth(line, 400)).toBe(line);
    expect(fitToWidth(line, undefined)).toBe(line); // no width known: as it is
    expect([...fitToWidth('ünïcödé progress ✓✓✓✓✓✓', 10)]).toHaveLength(9);
  });

  it('progressLine: bar, counts, rate and ETA', () => {
    const line = progressLine({ jobId: 'j', state: 'JOB_STATE_RUNNING', done: '2500', total: '10000', unit: 'candidates', message: '3/12 tasks committed', outputUri: '' }, 500, 20);
    expect(line).toBe('[#####...............]  25.0%  2,500/10,000 candidates  500/s  ETA 0:15  3/12 tasks committed');
  });
});
