// A preprocessing thread, off the main loop: JPEGs the native addon takes are decoded, resized and normalised here
// in one synchronous call; other images are decoded by sharp (on libuv's pool) and resized here in TypeScript.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { ImageDecodeError } from './errors.js';
import { preprocessImage } from './preprocess.js';
import type { PreprocessReply, PreprocessRequest, PreprocessWorkerInit } from './preprocess-protocol.js';

const port = parentPort;
if (!port) throw new Error('preprocess-worker must run as a worker thread');
const { maxPixels, mode, decoder, niceness } = workerData as PreprocessWorkerInit;
// Linux schedules threads one by one: setpriority on this thread's id (from /proc/thread-self) lowers this thread
// only. Where that does not exist, the threads keep the process's priority.
if (niceness > 0 && process.platform === 'linux') {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), niceness);
  } catch {
    // no /proc, or not allowed: run at the process's priority
  }
}
// every image is new: libvips' operation cache would only hold memory
sharp.cache(false);
// parallelism comes from threads and images in flight; libvips' own threads per image would oversubscribe
sharp.concurrency(1);

port.on('message', (req: PreprocessRequest) => {
  preprocessImage(req.bytes, req.spec, { maxPixels, mode, decoder, into: req.into }).then(
    ({ tensor, source, pipeline }) => {
      const reply: PreprocessReply = { id: req.id, ok: true, tensor, source, pipeline };
      // a tensor written into a shared buffer goes back shared; a new one by transfer
      port.postMessage(reply, tensor.buffer instanceof ArrayBuffer ? [tensor.buffer] : []);
    },
    (err: unknown) => {
      const e = err as Error;
      // the shared buffer goes back with the failure, so the pool keeps it
      const reason = e instanceof ImageDecodeError ? e.reason : null;
      const reply: PreprocessReply = { id: req.id, ok: false, reason, message: e.message, spare: req.into };
      port.postMessage(reply);
    },
  );
});
