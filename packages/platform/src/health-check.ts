// The client side of the standard health service (grpc.health.v1) that every server of the platform runs:
// what `select status`, scripts and tests ask instead of guessing from an open port.
import type { PackageDefinition } from '@grpc/proto-loader';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createGrpcClient, unary, type GrpcClientOptions } from './client.js';
import { GrpcCallError } from './errors.js';
import { loadProtoPackage } from './proto.js';

/** What a server says about itself or one of its services; `SERVICE_UNKNOWN` when it does not serve that name. */
export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'UNKNOWN';

export interface HealthCheckOptions extends Omit<GrpcClientOptions, 'defaultDeadlineMs'> {
  /** Fully qualified service to ask about (`select.retrieval.v1.RetrievalService`); `''` is the whole server. @default '' */
  service?: string;
  /** How long to wait for the answer, connecting included. @default 3000 */
  deadlineMs?: number;
}

let healthPackage: PackageDefinition | undefined;

/**
 * Asks the server at `address` (`host:port`) for its health. Resolves to the reported status; rejects with a
 * GrpcCallError when no answer came (UNAVAILABLE: nothing listens there; DEADLINE_EXCEEDED: no answer in time).
 */
export async function checkHealth(address: string, options: HealthCheckOptions = {}): Promise<HealthStatus> {
  const { service = '', deadlineMs = 3_000, ...clientOptions } = options;
  healthPackage ??= loadProtoPackage(healthProtoPath);
  const client = createGrpcClient(healthPackage, 'grpc.health.v1.Health', address, { ...clientOptions, defaultDeadlineMs: deadlineMs });
  try {
    const response = await unary<{ status?: string }>(client, 'check', { service });
    const reported = response.status;
    return reported === 'SERVING' || reported === 'NOT_SERVING' || reported === 'SERVICE_UNKNOWN' ? reported : 'UNKNOWN';
  } catch (err) {
    // The health service answers NOT_FOUND for a name it was never told about.
    if (err instanceof GrpcCallError && err.code === GrpcStatus.NOT_FOUND) return 'SERVICE_UNKNOWN';
    throw err;
  } finally {
    client.close();
  }
}
