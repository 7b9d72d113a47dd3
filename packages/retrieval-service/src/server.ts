import { availableParallelism } from 'node:os';
import { createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import type { retrievalV1 } from '@select/contracts';
import type { JobRuntime } from '@select/jobs';
import { IndexCatalog } from '@select/vector-index';
import { addVectorsHandler, removeIdsHandler } from './add-vectors.js';
import { BULK_LOAD_JOB, openBulkLoadJobs } from './bulk-load.js';
import { mapErrors } from './errors.js';
import type { RetrievalConfig } from './config.js';
import { indexAdminHandlers } from './index-admin.js';
import { SearchGate } from './search-gate.js';
import { SERVICE_NAME, retrievalPackageDefinition } from './retrieval-definition.js';
import { rangeSearchHandler, searchHandler } from './search.js';

export interface RetrievalServer {
  server: GrpcServer;
  catalog: IndexCatalog;
  /** BulkLoad jobs (state in `<dataDir>/.jobs`). */
  jobs: JobRuntime;
  /** Bound address, host:port. */
  address: string;
  /** Drain the server, stop bulk loads, close every index (logs flushed; files stay). */
  close(): Promise<void>;
}

/** Opens every index under `config.dataDir` (replaying logs) and serves them over gRPC. */
export async function startRetrievalServer(config: RetrievalConfig, options: { logger?: Logger } = {}): Promise<RetrievalServer> {
  const logger = options.logger ?? createLogger({ service: 'retrieval-service' });
  const started = Date.now();
  const threads = config.threads ?? availableParallelism();
  const catalog = await IndexCatalog.open(config.dataDir, {
    threads,
    snapshotAfterLogBytes: config.snapshotAfterLogBytes,
    logger,
  });
  for (const index of catalog.list()) {
    logger.info({ index: index.name, vectors: index.size, spec: index.spec }, 'index loaded');
  }
  logger.info({ indexes: catalog.list().length, failed: catalog.failures().length, ms: Date.now() - started }, 'indexes opened');

  const gate = new SearchGate(config.maxConcurrentSearches, config.maxQueuedSearches);
  const jobs = await openBulkLoadJobs(catalog, {
    batchSize: config.addBatchSize,
    dataDir: config.dataDir,
    concurrency: config.jobConcurrency,
    events: config.publishJobEvents ? { brokers: config.kafkaBrokers, topicPrefix: config.kafkaTopicPrefix } : false,
    logger,
  });
  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'retrieval-service', logger });
  server.addService(retrievalPackageDefinition(), SERVICE_NAME, {
    ...indexAdminHandlers(catalog),
    AddVectors: addVectorsHandler(catalog, { batchSize: config.addBatchSize }),
    RemoveIds: removeIdsHandler(catalog),
    Search: searchHandler(catalog, gate),
    RangeSearch: rangeSearchHandler(catalog, gate),
    BulkLoad: (request: retrievalV1.BulkLoadRequest__Output) => mapErrors(() => jobs.start(BULK_LOAD_JOB, request)),
    ...jobs.grpcHandlers(),
  });
  let address: string;
  try {
    await jobs.resume();
    address = (await server.start()).address;
  } catch (error) {
    await jobs.close();
    await catalog.close();
    throw error;
  }
  logger.info({ address, dataDir: config.dataDir, threads }, 'retrieval service listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    catalog,
    jobs,
    address,
    close: () =>
      (closing ??= (async () => {
        // Bulk loads stop (checkpointed, to resume at the next start) while the server drains its calls.
        await Promise.all([server.shutdown(), jobs.close()]);
        await catalog.close();
      })()),
  };
}
