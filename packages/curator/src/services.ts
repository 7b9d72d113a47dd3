import { packageDefinition } from '@select/contracts';
import { createGrpcClient, type GenericServiceClient } from '@select/platform';
import type { ServiceClients } from './chain/step.js';
import type { CuratorConfig } from './config.js';

/** gRPC clients of the services steps call, for the addresses the config names. */
export function createServiceClients(config: Pick<CuratorConfig, 'embeddingAddress' | 'retrievalAddress' | 'generationAddress'>): ServiceClients & { close(): void } {
  const clients: ServiceClients = {};
  if (config.embeddingAddress) clients.embedding = createGrpcClient<GenericServiceClient>(packageDefinition('embedding'), 'select.embedding.v1.EmbeddingService', config.embeddingAddress, { defaultDeadlineMs: 120_000 });
  if (config.retrievalAddress) clients.retrieval = createGrpcClient<GenericServiceClient>(packageDefinition('retrieval'), 'select.retrieval.v1.RetrievalService', config.retrievalAddress, { defaultDeadlineMs: 120_000 });
  if (config.generationAddress) clients.generation = createGrpcClient<GenericServiceClient>(packageDefinition('generation'), 'select.generation.v1.GenerationService', config.generationAddress, { defaultDeadlineMs: 600_000 });
  return {
    ...clients,
    close() {
      clients.embedding?.close();
      clients.retrieval?.close();
      clients.generation?.close();
    },
  };
}
