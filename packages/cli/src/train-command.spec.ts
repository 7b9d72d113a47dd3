// `select train` against a real trainer service (its build, started as a process of its own on port 0).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftWriter } from '@select/datasets';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { buildCli, runSelect, startSelect } from './cli.test-util.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = join(REPO, '.work/py/bin/python');
const TRAINER = join(REPO, 'packages/trainer-service/dist/main.js');

describe.skipIf(!existsSync(PYTHON) || !existsSync(TRAINER))('select train', () => {
  let dir: string;
  let trainer: JsonLogProcess;
  let address: string;
  let shift: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-train-'));
    shift = join(dir, 'shift');
    // two classes: a red and a blue image set, 2 shards
    const writer = await ShiftWriter.open(shift, { name: 'cli-shift', strategy: 'test', classes: ['n01440764', 'n01443537'], maxSamplesPerShard: 16 });
    for (let i = 0; i < 16; i++) {
      for (const c of [0, 1]) {
        const data = new Uint8Array(24 * 24 * 3).map((_v, j) => (j % 3 === (c === 0 ? 0 : 2) ? 200 : 30) + ((i * 7 + j) % 20));
        await writer.add({ sourceId: `${c}/${i}`, classIndex: c, image: { data, width: 24, height: 24, channels: 3 } });
      }
    }
    await writer.close();
    trainer = spawnWithJsonLogs(process.execPath, [TRAINER], {
      env: { ...process.env, TRAINER_RUNS_DIR: join(dir, 'runs'), TRAINER_PORT: '0', TRAINER_PYTHON: PYTHON, TRAINER_PUBLISH_EVENTS: 'false', TRAINER_MIN_FREE_BYTES: '0' },
    });
    const [listening] = await Promise.all([trainer.waitForLog('trainer service listening'), buildCli()]);
    address = String(listening['address']);
  }, 120_000);

  afterAll(async () => {
    trainer?.child.kill('SIGTERM');
    await trainer?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('start follows a run to its end and prints where the artifact is; list and get show it; recipes lists the recipes', async () => {
    const started = await runSelect(['train', 'start', shift, '--recipe', 'cpu-tiny', '--epochs', '1', '--run-id', 'cli-run', '--address', address]);
    expect(started.stderr).toMatch(/val top1 = /);
    expect(started.stdout).toMatch(/^cli-run \(timm, shift cli-shift\): succeeded — trained 1 epochs/m);
    expect(started.stdout).toMatch(/^artifact: .*cli-run\/export$/m);
    expect(started.code).toBe(0);

    const list = await runSelect(['train', 'list', '--address', address]);
    expect(list.stdout).toMatch(/^cli-run +timm +cli-shift +succeeded +1\/1/m);
    const get = await runSelect(['train', 'get', 'cli-run', '--json', '--address', address]);
    expect(JSON.parse(get.stdout.split('\n')[0]!)).toMatchObject({ runId: 'cli-run', state: 'JOB_STATE_SUCCEEDED', backend: 'timm' });

    const recipes = await runSelect(['train', 'recipes', '--address', address]);
    expect(recipes.stdout).toMatch(/^select: SELECT's ResNet-50 recipe/m);
    expect(recipes.stdout).toMatch(/lr=0\.5 momentum=0\.9 /);
  }, 120_000);

  it('Ctrl-C while following stops the command only (exit 130, with how to follow or cancel); the run goes on in the trainer', async () => {
    const follower = startSelect(['train', 'start', shift, '--recipe', 'cpu-tiny', '--epochs', '200', '--run-id', 'cli-interrupt', '--address', address]);
    let stderr = '';
    follower.child.stderr?.on('data', (chunk: string) => (stderr += chunk));
    for (let i = 0; i < 600 && !/running/.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(/running/);
    follower.child.kill('SIGINT');
    expect(await follower.exited).toBe(130);
    for (let i = 0; i < 40 && !stderr.includes('cancel it:'); i++) await new Promise((r) => setTimeout(r, 50)); // the pipe's last bytes
    expect(stderr).toContain('select: stopped following run cli-interrupt; it goes on in the trainer.');
    expect(stderr).toContain(`follow it again: select train watch cli-interrupt --address ${address}`);
    expect(stderr).toContain(`cancel it:       select train cancel cli-interrupt --address ${address}`);
    const get = await runSelect(['train', 'get', 'cli-interrupt', '--json', '--address', address]);
    expect(JSON.parse(get.stdout.split('\n')[0]!)).toMatchObject({ runId: 'cli-interrupt', state: expect.stringMatching(/JOB_STATE_(RUNNING|QUEUED)/) });
    expect((await runSelect(['train', 'cancel', 'cli-interrupt', '--address', address])).code).toBe(0);
  }, 90_000);

  it('bad input and a missing trainer: the server\'s reason and the exit code', async () => {
    const missing = await runSelect(['train', 'get', 'nope', '--address', address]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no job "nope"/);
    const bad = await runSelect(['train', 'start', shift, '--recipe', 'cpu-tiny', '--lr', '-1', '--address', address]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid recipe: lr -1 is outside/);
    const down = await runSelect(['train', 'list', '--address', '127.0.0.1:1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/the trainer at 127\.0\.0\.1:1 did not answer/);
  }, 60_000);
});
