#!/usr/bin/env node
// One contender of the events benchmark: publishes `count` SampleCurated events (200-byte bodies) through
// @select/events (idempotent, acks=all) onto <prefix>select.samples.v1, which must exist. Keeps at most
// `window` publishes unacknowledged, as a producer's buffer would. Prints one JSON line:
// { events, seconds, cpuSeconds, buildCpuSeconds } (the last: building the payloads, before the clock).
//
//   node tools/bench/events/produce-ts.mjs <prefix> <count> [window=20000] [lingerMs] [maxBatch]
import { createEventProducer, EVENT_TYPES } from '@select/events';
import { samplePayload } from './events.mjs';

const [prefix, countText, windowText = '20000', lingerText, maxBatchText] = process.argv.slice(2);
const count = Number(countText);
const window = Number(windowText);
const producer = createEventProducer({
  clientId: 'events-bench',
  source: 'events-bench',
  topicPrefix: prefix,
  createTopics: false,
  ...(lingerText ? { lingerMs: Number(lingerText) } : {}),
  ...(maxBatchText ? { maxBatch: Number(maxBatchText) } : {}),
});
await producer.connect();

// The payloads are built before the clock starts, as ProducerPerformance makes its record before it starts: what
// is timed is the library's work (encoding every payload, its envelope and the requests), not the bench's own
// construction of its objects (what that costs is printed as buildCpuSeconds).
const buildCpuBefore = process.cpuUsage();
const payloads = Array.from({ length: count }, (_, seq) => samplePayload(seq));
const buildCpu = process.cpuUsage(buildCpuBefore);

const cpuBefore = process.cpuUsage();
const started = performance.now();
let failed = 0;
// At most `window` publishes unacknowledged, as a producer's buffer allows: a counter and one waiter.
let pending = 0;
let wake;
const settled = () => {
  pending -= 1;
  if (wake !== undefined && pending < window) {
    wake();
    wake = undefined;
  }
};
const failedOne = () => {
  failed += 1;
  settled();
};
for (let seq = 0; seq < count; seq++) {
  producer.publish('samples', EVENT_TYPES.SampleCurated, payloads[seq]).then(settled, failedOne);
  pending += 1;
  if (pending >= window) await new Promise((resolve) => (wake = resolve));
}
while (pending > 0) await new Promise((resolve) => (wake = resolve));
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
await producer.disconnect();
if (failed > 0) throw new Error(`${failed} publishes failed`);
console.log(JSON.stringify({ events: count, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, buildCpuSeconds: (buildCpu.user + buildCpu.system) / 1e6 }));
