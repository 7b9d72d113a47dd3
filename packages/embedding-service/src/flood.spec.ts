import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureImage, maxAbsDiff, reference } from './fixtures.test-util.js';
import { connect, embedStream, floodStream, unaryCall, type Client, type TextEmbeddingMsg } from './grpc-client.test-util.js';

const MiB = 1024 * 1024;

/** Resident memory of a process from /proc, in bytes: now (VmRSS) and the peak since the last reset (VmHWM). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Make VmHWM start again from the current RSS (Linux clear_refs "5"). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** The service alone in its own process, so that its memory is measured without the flooding client's. */
async function startServerProcess(overrides: Record<string, unknown>): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./server-child.test-util.ts', import.meta.url)), JSON.stringify(overrides)], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /listening (\S+)/.exec(d.toString());
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
  return { child, address };
}

// Limits small enough that a flood overflows every queue: 8 images decoding, 16 tensors waiting for inference,
// 16 items of a stream in flight. A stream past its window is not read (HTTP/2 flow control holds the client).
const LIMITS = { maxPendingImages: 8, maxQueue: 16, maxBatch: 4, maxWaitMs: 2, streamWindow: 16, preprocessThreads: 2, inferenceWorkers: 1, intraOpThreads: 1 };
const STREAMS = 8;
const PER_STREAM = 300;
/** The flood is sent twice: memory held per amount sent would show as growth that doubles. */
const ROUNDS = 2;
const TEXT_CALLS = 10;
const TEXTS_PER_CALL = 200;
/**
 * What the service may hold by its limits is about 32 MiB: admitted stream items (8 streams x 16 x 129 kB), images
 * decoding (8 x (bytes + pixels + tensor)) and queued tensors (16 x 3x224x224 float32). The bound leaves room for
 * HTTP/2 buffers, libvips, ONNX Runtime scratch memory and garbage not yet collected (measured growth: 40-85 MiB
 * on the 2-core machine under load). The flood sends several times the bound.
 */
const PEAK_GROWTH_BOUND = 128 * MiB;

describe('EmbeddingService under a flood', () => {
  let server: { child: ChildProcess; address: string };
  let client: Client;
  const image = fixtureImage('odd-portrait.png');

  beforeAll(async () => {
    server = await startServerProcess(LIMITS);
    client = connect(server.address);
  }, 60_000);
  afterAll(async () => {
    client.close();
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGTERM');
    await exited;
  });

  it('refuses the overflow per item with RESOURCE_EXHAUSTED, keeps peak memory bounded, and serves normally afterwards', async () => {
    const pid = server.child.pid!;
    // warm up with a small flood of the same shape: threads, HTTP/2 windows and allocator arenas reach their
    // working size, so that what the big flood adds is what scales with the amount sent
    await Promise.all(Array.from({ length: STREAMS }, (_, s) => floodStream(client, 50, (i) => ({ itemId: `warm-${s}-${i}`, image }))));
    resetPeak(pid);
    const before = memoryOf(pid);

    const sentBytes = ROUNDS * STREAMS * PER_STREAM * image.byteLength;
    const tallies: Array<Record<string, number>> = [];
    const texts: Array<{ embeddings: TextEmbeddingMsg[] }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [t, x] = await Promise.all([
        Promise.all(Array.from({ length: STREAMS }, (_, s) => floodStream(client, PER_STREAM, (i) => ({ itemId: `${round}-${s}-${i}`, image })))),
        Promise.all(
          Array.from({ length: TEXT_CALLS }, (_, c) =>
            unaryCall<{ embeddings: TextEmbeddingMsg[] }>(client, 'embedTexts', { texts: Array.from({ length: TEXTS_PER_CALL }, (_, i) => `call ${c} text ${i}`) }, 60_000),
          ),
        ),
      ]);
      tallies.push(...t);
      texts.push(...x);
    }
    const after = memoryOf(pid);

    // every item is answered, either with a vector or with RESOURCE_EXHAUSTED, and both happen
    const total: Record<string, number> = {};
    for (const t of tallies) for (const [k, v] of Object.entries(t)) total[k] = (total[k] ?? 0) + v;
    expect(Object.keys(total).sort()).toEqual(['RESOURCE_EXHAUSTED', 'ok']);
    expect(total['ok']! + total['RESOURCE_EXHAUSTED']!).toBe(ROUNDS * STREAMS * PER_STREAM);
    expect(total['RESOURCE_EXHAUSTED']).toBeGreaterThan(0);
    expect(total['ok']).toBeGreaterThan(0);
    const textCodes = texts.flatMap((r) => r.embeddings.map((e) => (e.error ? e.error.code : 'ok')));
    expect(textCodes).toHaveLength(ROUNDS * TEXT_CALLS * TEXTS_PER_CALL);
    expect(new Set(textCodes)).toEqual(new Set(['ok', 'RESOURCE_EXHAUSTED']));

    // memory: the peak during the flood stays within what the limits allow, far below what was sent
    const growth = after.peak - before.rss;
    console.info(
      `flood: ${(sentBytes / MiB).toFixed(0)} MiB of images sent, ${total['ok']} embedded, ${total['RESOURCE_EXHAUSTED']} refused; ` +
        `service RSS ${(before.rss / MiB).toFixed(0)} MiB before, peak ${(after.peak / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(1)} MiB), ${(after.rss / MiB).toFixed(0)} MiB after`,
    );
    expect(sentBytes).toBeGreaterThan(4 * PEAK_GROWTH_BOUND);
    expect(growth).toBeLessThan(PEAK_GROWTH_BOUND);

    // and the service goes on: a lone request gets the reference vector
    const [alone] = await embedStream(client, [{ itemId: 'after', image: fixtureImage('landscape.jpg') }]);
    expect(maxAbsDiff(alone!.embedding!.vector, reference.models['tiny-clip']!.images!['landscape.jpg']!.vector)).toBeLessThan(1e-4);
  }, 120_000);
});
