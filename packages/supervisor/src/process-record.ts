// Pid files: what the supervisor remembers of a process it started, so that a later command (another `select`
// process) can find it, tell it from an unrelated process that got the same pid, and stop it.
import { readFileSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { writeFileAtomic } from '@select/platform';

export interface ProcessRecord {
  /** Service of the table, and the process's own name (`curator-worker-2`). */
  service: string;
  instance: string;
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  startTicks: number | null;
  port: number;
  /** Version of the package it runs, from its package.json when it was started. */
  version: string;
  /** Modification time of the program file when it was started, in ms (records written before buildFingerprint). */
  programMtimeMs: number;
  /** buildFingerprint() of its code when it was started: `up` restarts, and `status` flags, a process whose code changed since. */
  buildFingerprint?: string;
  program: string;
  logFile: string;
  startedAt: string;
}

export async function readRecord(file: string): Promise<ProcessRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ProcessRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A torn or foreign file is treated as no record; writes are atomic, so this is someone else's file.
    return undefined;
  }
}

export async function writeRecord(file: string, record: ProcessRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}

export async function removeRecord(file: string): Promise<void> {
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The process's start time in clock ticks, or null where /proc is not available. */
export function processStartTicks(pid: number): number | null {
  const stat = procStat(pid);
  if (stat === undefined) return null;
  const ticks = Number(stat[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** Fields of /proc/<pid>/stat after the command name (field 3, the state, is index 0); undefined when gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Whether the recorded process still runs: the pid exists, is not a zombie, and (where /proc tells) started
 * when the recorded one did, so a pid reused by another program counts as gone.
 */
export function isAlive(record: Pick<ProcessRecord, 'pid' | 'startTicks'>): boolean {
  const stat = procStat(record.pid);
  if (stat !== undefined) {
    if (stat[0] === 'Z' || stat[0] === 'X') return false;
    return record.startTicks === null || Number(stat[19]) === record.startTicks;
  }
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal` to the process (or, with `group`, to its whole process group); false when it is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals, group = false): boolean {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
