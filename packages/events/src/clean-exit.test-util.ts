// Child process of clean-exit.spec.ts: produce and consume one event, stop everything, and then do
// nothing — the process must exit on its own, which it cannot while a socket or timer is left open.
import { createEventConsumer } from './consumer.js';
import { createEventProducer } from './producer.js';
import { EVENT_TYPES } from './topics.js';

process.on('unhandledRejection', (reason) => {
  console.error('unhandled rejection', reason);
  process.exitCode = 3;
});

const prefix = process.argv[2] ?? 't-exit-';
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const logger = { ...quiet, error: (obj: object, msg?: string) => console.error('error log', msg, obj), child: () => logger };

const producer = createEventProducer({ clientId: 'exit-check', source: 'exit-check', topicPrefix: prefix, logger });
await producer.connect();
await producer.publish('jobs', EVENT_TYPES.JobLifecycle, { jobId: 'job-1', kind: 'curate', state: 'JOB_STATE_RUNNING' });

let seen = 0;
const consumer = createEventConsumer({
  clientId: 'exit-check',
  groupId: `g-${prefix}`,
  topics: ['jobs'],
  topicPrefix: prefix,
  logger,
  handleBatch: async (events) => {
    seen += events.length;
  },
});
await consumer.start();
while (seen === 0) await new Promise((resolve) => setTimeout(resolve, 20));
await Promise.all([consumer.stop(), producer.disconnect()]);
console.log(`processed ${seen}`);
