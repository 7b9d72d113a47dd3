// Run by job-runtime.spec.ts as a separate process that is killed with SIGKILL while its job runs:
//   node --import tsx counting-job-child.test-util.ts <stateDir> <request JSON>
// Opens a runtime, starts the counting job, prints "started <jobId>", and exits when the job ends.
import { createLogger } from '@select/platform';
import { countingJob } from './counting-job.test-util.js';
import { JobRuntime } from './job-runtime.js';

const [dir, requestJson] = process.argv.slice(2);
const runtime = await JobRuntime.open({ dir: dir!, service: 'jobs-child', logger: createLogger({ service: 'jobs-child', level: 'silent' }) });
runtime.register(countingJob);
const started = await runtime.start('count', JSON.parse(requestJson!));
process.stdout.write(`started ${started.jobId}\n`);
await runtime.wait(started.jobId);
await runtime.close();
