// Services log JSON lines on stdout; tests that run one as a child process wait for a given log line (started,
// stopped) instead of sleeping, and show the last lines and stderr when it never comes.
import { spawn, type ChildProcess } from 'node:child_process';

export interface JsonLogProcess {
  child: ChildProcess;
  /** Log lines (parsed JSON; a line that is not JSON as `{ msg: line }`) written so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  /** The tail of its stderr and its last log lines, for an error message: why it never logged a line, or died. */
  recentOutput(): string;
  /** The first log line whose `msg` is `msg`; rejects when the process exits or `timeoutMs` (@default 60000) passes first. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Spawns `command args` (stdin closed) and collects its stdout as JSON log lines. */
export function spawnWithJsonLogs(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): JsonLogProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const recentOutput = () => `stderr:\n${stderr.slice(-2000)}\nlast logs:\n${JSON.stringify(logs.slice(-10))}`;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    child,
    logs,
    exited,
    recentOutput,
    async waitForLog(msg, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find((l) => l.msg === msg);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`${command} ${args.join(' ')} never logged "${msg}"; ${recentOutput()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}
