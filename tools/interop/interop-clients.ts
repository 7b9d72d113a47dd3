// Two gRPC clients that are not ours and know nothing of SELECT's protos: grpcurl (Go, built by
// scripts/setup.sh into .work/bin) and tools/interop/reflect_client.py (Python grpcio + grpcio-reflection
// in .work/py). Everything they send and read comes from the server's reflection service.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const GRPCURL = `${REPO}.work/bin/grpcurl`;
export const PYTHON = `${REPO}.work/py/bin/python`;
const REFLECT_CLIENT = `${REPO}tools/interop/reflect_client.py`;

/** Why the clients cannot run here, or undefined when both are installed. */
export function missingClients(): string | undefined {
  const missing = [GRPCURL, PYTHON].filter((p) => !existsSync(p));
  return missing.length > 0 ? `${missing.join(' and ')} missing: run bash scripts/setup.sh` : undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(what: string, result: RunResult): RunResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr.slice(0, 2000)}`);
  return result;
}

/** The JSON values written one after another (grpcurl prints each streamed message as its own object). */
export function parseJsonSequence(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return values;
}

export type Json = Record<string, unknown>;

export interface CallOptions {
  /** Stop reading a stream after this many messages (a stream that never ends, like health Watch). */
  maxResponses?: number;
}

export const grpcurl = {
  async list(address: string): Promise<string[]> {
    const { stdout } = ok('grpcurl list', await run(GRPCURL, ['-plaintext', address, 'list']));
    return stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
  },
  /** `grpcurl describe`: the symbol in protobuf source form. */
  async describe(address: string, symbol: string): Promise<string> {
    return ok(`grpcurl describe ${symbol}`, await run(GRPCURL, ['-plaintext', address, 'describe', symbol])).stdout;
  },
  /** Calls `service/method` with a JSON request; the responses, in order. */
  async call(address: string, method: string, request: Json, options: CallOptions = {}): Promise<Json[]> {
    // grpcurl reads the stream to its end; a stream that never ends is cut by -max-time, after which the
    // messages already printed are what it answered.
    const args = ['-plaintext', '-d', JSON.stringify(request)];
    if (options.maxResponses !== undefined) args.push('-max-time', '3');
    const result = await run(GRPCURL, [...args, address, method]);
    const cutByMaxTime = options.maxResponses !== undefined && /DeadlineExceeded/.test(result.stderr);
    if (!cutByMaxTime) ok(`grpcurl ${method}`, result);
    const responses = parseJsonSequence(result.stdout) as Json[];
    return options.maxResponses === undefined ? responses : responses.slice(0, options.maxResponses);
  },
};

export interface PythonServiceDescription {
  name: string;
  file: string;
  dependencies: string[];
  methods: {
    name: string;
    client_streaming: boolean;
    server_streaming: boolean;
    input: { name: string; file: string; fields: { name: string; type: string }[] };
    output: { name: string; file: string; fields: { name: string; type: string }[] };
  }[];
}

export const python = {
  async list(address: string): Promise<string[]> {
    return JSON.parse(ok('reflect_client.py list', await run(PYTHON, [REFLECT_CLIENT, address, 'list'])).stdout) as string[];
  },
  async describe(address: string, service: string): Promise<PythonServiceDescription> {
    const result = ok(`reflect_client.py describe ${service}`, await run(PYTHON, [REFLECT_CLIENT, address, 'describe', service]));
    return JSON.parse(result.stdout) as PythonServiceDescription;
  },
  async call(address: string, method: string, request: Json, options: CallOptions = {}): Promise<Json[]> {
    const args = [REFLECT_CLIENT, address, 'call', method, JSON.stringify(request)];
    if (options.maxResponses !== undefined) args.push('--max-responses', String(options.maxResponses));
    return JSON.parse(ok(`reflect_client.py call ${method}`, await run(PYTHON, args)).stdout) as Json[];
  },
};
