// Tests that stop the shared ClickHouse server must not overlap with tests that need it up. A lock in the temp
// directory coordinates every test process: tests using ClickHouse hold it shared, an outage holds it
// exclusively and waits for the shared holders to finish. Shared by the metrics and metrics-sink tests.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const LOCK_DIR = join(tmpdir(), 'select-clickhouse-outage-lock');
const OUTAGE = join(LOCK_DIR, 'outage');
const USERS = join(LOCK_DIR, 'users');
const INFRA = fileURLToPath(new URL('../../../infra/infra.sh', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerAlive(file: string): boolean {
  try {
    return alive(Number(readFileSync(file, 'utf8')));
  } catch {
    return false;
  }
}

function outageActive(): boolean {
  try {
    readFileSync(OUTAGE);
  } catch {
    return false;
  }
  if (ownerAlive(OUTAGE)) return true;
  rmSync(OUTAGE, { force: true });
  return false;
}

/** Holds ClickHouse "up" until the returned release function is called: no outage test starts meanwhile. */
export async function holdClickHouseUp(): Promise<() => void> {
  mkdirSync(USERS, { recursive: true });
  const me = join(USERS, randomUUID());
  for (;;) {
    writeFileSync(me, String(process.pid));
    if (!outageActive()) break;
    rmSync(me, { force: true });
    await sleep(200);
  }
  return () => rmSync(me, { force: true });
}

function liveUsers(): number {
  let count = 0;
  for (const name of readdirSync(USERS)) {
    if (ownerAlive(join(USERS, name))) count++;
    else rmSync(join(USERS, name), { force: true });
  }
  return count;
}

async function infra(command: 'stop' | 'start'): Promise<void> {
  await promisify(execFile)('bash', [INFRA, command, 'clickhouse'], { timeout: 120_000 });
}

/**
 * Runs `fn(stop, start)` while holding the outage lock exclusively; ClickHouse is started again afterwards
 * even if `fn` throws. Keep outages to a few seconds: other engineers' tests share this server.
 */
export async function withClickHouseOutage<T>(
  fn: (control: { stop(): Promise<void>; start(): Promise<void> }) => Promise<T>,
): Promise<T> {
  mkdirSync(USERS, { recursive: true });
  for (;;) {
    try {
      const fd = openSync(OUTAGE, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      outageActive();
      await sleep(200);
    }
  }
  let stopped = false;
  try {
    const deadline = Date.now() + 120_000;
    while (liveUsers() > 0) {
      if (Date.now() > deadline) throw new Error('tests holding ClickHouse did not finish within 120 s');
      await sleep(200);
    }
    return await fn({
      stop: async () => {
        stopped = true;
        await infra('stop');
      },
      start: async () => {
        await infra('start');
        stopped = false;
      },
    });
  } finally {
    if (stopped) await infra('start');
    rmSync(OUTAGE, { force: true });
  }
}
