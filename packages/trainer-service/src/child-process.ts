import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ChildRun {
  pid: number;
  /** Resolves with the exit code, or the signal name that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of output (stdout and stderr together), for failure messages. */
  tail(lines?: number): string;
  /** SIGTERM to the whole process group (torchrun and its workers, data-loader processes), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 200;

/**
 * Runs `argv` in a process group of its own (detached), appending stdout and stderr to `logFile` and calling
 * `onLine` with every complete output line. The group can be signalled as a whole.
 */
export function runChild(
  argv: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; logFile: string; onLine?: (line: string) => void },
): ChildRun {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const pendings = { out: '', err: '' };
  const take = (which: 'out' | 'err') => (chunk: Buffer) => {
    log.write(chunk);
    const text = pendings[which] + chunk.toString('utf8');
    const lines = text.split(/\r?\n|\r/);
    pendings[which] = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(printable(line));
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    }
  };
  child.stdout!.on('data', take('out'));
  child.stderr!.on('data', take('err'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      tail.push(`cannot start ${argv[0]}: ${err.message}`);
      resolve({ code: 127, signal: null });
    });
    child.on('close', (code, signal) => {
      for (const rest of [pendings.out, pendings.err]) if (rest) tail.push(printable(rest));
      log.end(() => resolve({ code, signal }));
    });
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  return {
    pid: child.pid ?? -1,
    exited,
    tail: (n = 20) => tail.slice(-n).join('\n'),
    async stop(graceMs = 10_000) {
      if (ended) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // data-loader workers of a killed leader may outlive it
      signalGroup('SIGKILL');
    },
  };
}

/** A log line fit for a status message: control and undecodable characters as '?', at most 300 characters. */
function printable(line: string): string {
  const clean = line.replace(/[^\x09\x20-\x7e\u00a0-\ufffc]/g, '?');
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}
