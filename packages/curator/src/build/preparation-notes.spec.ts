// A worker's set-up of a build's steps (embedding the pool, loading its index) can take minutes before
// its first task ends; its preparation note is how the build's status says what goes on meanwhile.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRootOfSpec, committedTasks, preparationReporter, readPreparationNotes, type PreparationNote } from './staging.js';

const dir = mkdtempSync(join(tmpdir(), 'select-prep-notes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function buildRoot(name: string): string {
  const root = join(dir, name, '.build');
  mkdirSync(join(root, 'tasks'), { recursive: true });
  return root;
}
const notesIn = async (root: string, maxAgeMs?: number): Promise<PreparationNote[]> => {
  const tasks = join(root, 'tasks');
  return readPreparationNotes(tasks, readdirSync(tasks), maxAgeMs);
};

describe('preparation notes', () => {
  it('the first line is written at once, later ones at most once per interval (the latest wins), clear() removes the note', async () => {
    const root = buildRoot('throttle');
    const note = preparationReporter(root, 'host/a:1', { intervalMs: 300 });
    note.say('embedding the pool: 0/100 images');
    await sleep(50);
    expect((await notesIn(root)).map((n) => [n.worker, n.message])).toEqual([['host/a:1', 'embedding the pool: 0/100 images']]);
    // the worker id is made a safe file name; nothing else is in the folder, and it is no committed task
    expect(readdirSync(join(root, 'tasks'))).toEqual(['host_a_1.preparing.json']);
    expect(await committedTasks(join(root, 'tasks'))).toEqual(new Set());
    note.say('embedding the pool: 10/100 images');
    note.say('embedding the pool: 20/100 images');
    await sleep(50);
    expect((await notesIn(root))[0]!.message).toBe('embedding the pool: 0/100 images');
    await sleep(400);
    expect((await notesIn(root))[0]!.message).toBe('embedding the pool: 20/100 images');
    await note.clear();
    note.say('too late');
    await sleep(350);
    expect(readdirSync(join(root, 'tasks'))).toEqual([]);
  });

  it('an initial line is written at once and does not hold back the first line said', async () => {
    const root = buildRoot('initial');
    const note = preparationReporter(root, 'w', { intervalMs: 10_000, initial: "setting up the build's steps" });
    await sleep(50);
    expect((await notesIn(root))[0]!.message).toBe("setting up the build's steps");
    note.say('embedding the pool: starting');
    await sleep(50);
    expect((await notesIn(root))[0]!.message).toBe('embedding the pool: starting');
    note.say('embedding the pool: 10/100 samples'); // now the interval holds it back
    await sleep(50);
    expect((await notesIn(root))[0]!.message).toBe('embedding the pool: starting');
    await note.clear();
  });

  it('a note is refreshed while the set-up lasts; one a dead worker left stops counting after maxAgeMs', async () => {
    const root = buildRoot('heartbeat');
    const live = preparationReporter(root, 'live', { intervalMs: 10, heartbeatMs: 100 });
    live.say('loading the pool embeddings into retrieval index pool-1');
    await sleep(50);
    const first = (await notesIn(root))[0]!.at;
    await sleep(250);
    expect((await notesIn(root))[0]!.at).toBeGreaterThan(first);
    const dead: PreparationNote = { worker: 'dead', message: 'embedding the pool: 5/100 images', at: Date.now() - 60_000 };
    writeFileSync(join(root, 'tasks', 'dead.preparing.json'), JSON.stringify(dead));
    writeFileSync(join(root, 'tasks', 'half.preparing.json'), '{"worker": "half", "mess');
    expect((await notesIn(root, 30_000)).map((n) => n.worker)).toEqual(['live']);
    expect((await notesIn(root, 120_000)).map((n) => n.worker)).toEqual(['live', 'dead']);
    await live.clear();
    expect(existsSync(join(root, 'tasks', 'live.preparing.json'))).toBe(false);
  });

  it('a build folder deleted under a preparing worker makes its notes no-ops, not errors', async () => {
    const root = buildRoot('deleted');
    rmSync(join(dir, 'deleted'), { recursive: true, force: true });
    const note = preparationReporter(root, 'w', { intervalMs: 10 });
    note.say('embedding the pool: 1/2 images');
    await sleep(50);
    await expect(note.clear()).resolves.toBeUndefined();
    expect(existsSync(root)).toBe(false);
  });

  it('the build root of a spec path or file:// URI', () => {
    expect(buildRootOfSpec('/data/shifts/a/.build/spec.json')).toBe('/data/shifts/a/.build');
    expect(buildRootOfSpec('file:///data/shifts/a%20b/.build/spec.json')).toBe('/data/shifts/a b/.build');
  });
});
