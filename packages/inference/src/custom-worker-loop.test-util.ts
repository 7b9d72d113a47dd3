// A loop module for custom-worker.spec.ts: runs a session `times` times in a row inside the worker (a loop the
// main thread never sees step by step), feeding each run's output mean back into the input, and answers with
// the last output and how many runs it made.
import type { CustomWorkerContext } from './custom-worker-loop.js';

interface Request {
  type: 'loop';
  model: string;
  input: Float32Array;
  dims: number[];
  times: number;
}

export default function testLoop(context: CustomWorkerContext<{ greeting: string }>): void {
  const { port, sessions, data } = context;
  port.on('message', (message: Request | { type: 'close' }) => {
    if (message.type === 'close') {
      void context.release().then(() => {
        port.postMessage({ type: 'closed' });
        port.close();
      });
      return;
    }
    void (async () => {
      const session = sessions.get(message.model);
      if (!session) {
        port.postMessage({ type: 'failed', message: `no session ${message.model}` });
        return;
      }
      const input = message.input;
      const feeds = { [session.inputNames[0]!]: { type: 'float32' as const, data: input, dims: message.dims } };
      let last: Float32Array = new Float32Array(0);
      for (let i = 0; i < message.times; i++) {
        const out = await session.run(feeds, [session.outputNames[0]!]);
        last = out[session.outputNames[0]!]!.data as Float32Array;
        // Refilled in place: the next run reads the same array.
        input.fill(last.reduce((a, b) => a + b, 0) / last.length);
      }
      port.postMessage({ type: 'done', greeting: data.greeting, runs: message.times, output: last, signature: session.signature });
    })();
  });
}
