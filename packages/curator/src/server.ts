import { packageDefinition, type curationV1 } from '@select/contracts';
import { createEventProducer, type EventProducer } from '@select/events';
import { createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import type { StepRegistry } from './chain/registry.js';
import type { CuratorConfig } from './config.js';
import { CurationService } from './curation-service.js';
import { createServiceClients } from './services.js';
import { createStepRegistry } from './steps.js';
import { CuratorWorker } from './worker.js';

export const SERVICE_NAME = 'select.curation.v1.CuratorService';

export interface CuratorServer {
  server: GrpcServer;
  curation: CurationService;
  workers: CuratorWorker[];
  address: string;
  /** Graceful drain, then release(). */
  close(): Promise<void>;
  /** After the server drained: builds stop (resumable), local workers leave the group, producers and clients close. */
  release(): Promise<void>;
}

export interface StartCuratorOptions {
  logger?: Logger;
  registry?: StepRegistry;
}

/** Starts the curator: job runtime (resuming interrupted builds), local workers and the gRPC server. */
export async function startCuratorServer(config: CuratorConfig, options: StartCuratorOptions = {}): Promise<CuratorServer> {
  const logger = options.logger ?? createLogger({ service: 'curator' });
  const registry = options.registry ?? createStepRegistry();
  const services = createServiceClients(config);
  const kafka = { clientId: 'curator', source: 'curator', brokers: config.kafkaBrokers, topicPrefix: config.kafkaTopicPrefix, lingerMs: 20 };
  const producer: EventProducer = createEventProducer({ ...kafka, maxBatch: 1000 });
  // Decision events are up to 64 KiB: 8 per request stays under Kafka's 1 MB message limit.
  const decisionProducer: EventProducer = createEventProducer({ ...kafka, maxBatch: 8 });
  await Promise.all([producer.connect(), decisionProducer.connect()]);
  const curation = await CurationService.open({ config, registry, services, producer, decisionProducer, logger });
  const workers: CuratorWorker[] = [];
  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'curator', logger });
  server.addService(packageDefinition('curation'), SERVICE_NAME, {
    ...curation.jobs.grpcHandlers(),
    ListStrategies: () => curation.listStrategies(),
    StartCuration: (request: curationV1.CurationRequest__Output) => curation.start(request),
    ValidateCuration: (request: curationV1.CurationRequest__Output) => curation.validate(request),
    ListShifts: () => curation.listShifts(),
    GetShift: (request: curationV1.ShiftRef__Output) => curation.getShift(request.shiftId),
    ResumeCuration: (request: curationV1.ShiftRef__Output) => curation.resumeShift(request.shiftId),
  });
  let address: string;
  try {
    for (let i = 0; i < config.localWorkers; i++) {
      const worker = new CuratorWorker({
        registry,
        services,
        logger: logger.child({ worker: i }),
        brokers: config.kafkaBrokers,
        topicPrefix: config.kafkaTopicPrefix,
        groupId: config.workerGroupId,
        sessionTimeoutMs: config.sessionTimeoutMs,
        concurrentTasks: config.workerConcurrentTasks,
        workerId: `curator-${process.pid}-${i}`,
      });
      await worker.start();
      workers.push(worker);
    }
    await curation.resume();
    address = (await server.start()).address;
  } catch (error) {
    await Promise.all(workers.map((w) => w.stop()));
    await curation.close();
    await Promise.all([producer.disconnect(), decisionProducer.disconnect()]);
    services.close();
    throw error;
  }
  const release = async (): Promise<void> => {
    await curation.close();
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([producer.disconnect(), decisionProducer.disconnect()]);
    services.close();
  };
  logger.info({ address, steps: registry.list().map((s) => s.name), localWorkers: workers.length }, 'curator listening');
  return {
    server,
    curation,
    workers,
    address,
    release,
    async close() {
      await server.shutdown();
      await release();
    },
  };
}
