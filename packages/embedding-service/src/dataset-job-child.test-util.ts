// Run by dataset-jobs.spec.ts as a separate process that is killed with SIGKILL while its job runs:
//   node --import tsx dataset-job-child.test-util.ts <modelsDir> <jobsDir> <request JSON>
// Starts the engine and the job, prints "started <jobId>", and exits when the job ends (if it is not killed first).
import { createLogger } from '@select/platform';
import { EMBED_DATASET_JOB, openDatasetJobs } from './embed-dataset-job.js';
import { EmbeddingEngine } from './embedding-engine.js';
import { scanModels } from './model-layout.js';

const [modelsDir, jobsDir, requestJson] = process.argv.slice(2);
const engine = await EmbeddingEngine.start(await scanModels(modelsDir!), { sessions: { workers: 1, intraOpThreads: 1 }, preprocess: { threads: 1 } });
const jobs = (await openDatasetJobs(engine, {
  jobsDir,
  defaultModel: 'tiny-clip',
  logger: createLogger({ service: 'dataset-job-child', level: 'silent' }),
  topicPrefix: '',
  publishEvents: false,
}))!;
const started = await jobs.start(EMBED_DATASET_JOB, JSON.parse(requestJson!));
process.stdout.write(`started ${started.jobId}\n`);
await jobs.wait(started.jobId);
await jobs.close();
await engine.close();
