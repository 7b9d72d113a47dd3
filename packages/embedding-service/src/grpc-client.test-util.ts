import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition, type embeddingV1 } from '@select/contracts';
import { createGrpcClient, unary } from '@select/platform';
import { SERVICE_NAME } from './server.js';

// what a client sends, and what it receives
export type EmbedImageRequest = embeddingV1.EmbedImageRequest;
export type EmbedImageResponse = embeddingV1.EmbedImageResponse__Output;
export type ModelInfoMsg = embeddingV1.ModelInfo__Output;
export type TextEmbeddingMsg = embeddingV1.TextEmbedding__Output;

export type Client = grpc.Client & Record<string, (...args: never[]) => unknown>;

/** A client of the service (no default deadline: each call sets its own). */
export function connect(address: string): Client {
  return createGrpcClient(packageDefinition('embedding'), SERVICE_NAME, address, { defaultDeadlineMs: 0 }) as Client;
}

export function unaryCall<T>(client: Client, method: string, request: object, deadlineMs = 10_000): Promise<T> {
  return unary<T>(client, method, request, { deadlineMs });
}

/** Send every request, half-close, collect every response (deadlineMs Infinity: the call has no deadline). */
export function embedStream(client: Client, requests: EmbedImageRequest[], deadlineMs = 30_000): Promise<EmbedImageResponse[]> {
  return new Promise((resolve, reject) => {
    const call = (client['embedImages'] as unknown as (o: grpc.CallOptions) => grpc.ClientDuplexStream<object, EmbedImageResponse>).call(client, {
      deadline: Number.isFinite(deadlineMs) ? Date.now() + deadlineMs : Infinity,
    });
    const out: EmbedImageResponse[] = [];
    call.on('data', (r: EmbedImageResponse) => out.push(r));
    call.on('error', reject);
    call.on('end', () => resolve(out));
    for (const r of requests) call.write(r);
    call.end();
  });
}


/**
 * Write `count` requests as fast as the stream's flow control lets them through (waiting for 'drain', so the
 * client holds no backlog of its own), and tally the answers by outcome: 'ok' or the error code.
 */
export async function floodStream(client: Client, count: number, request: (i: number) => EmbedImageRequest, deadlineMs = 120_000): Promise<Record<string, number>> {
  const call = (client['embedImages'] as unknown as (o: grpc.CallOptions) => grpc.ClientDuplexStream<object, EmbedImageResponse>).call(client, {
    deadline: Date.now() + deadlineMs,
  });
  const tally: Record<string, number> = {};
  call.on('data', (r: EmbedImageResponse) => {
    const outcome = r.embedding ? 'ok' : (r.error?.code ?? 'none');
    tally[outcome] = (tally[outcome] ?? 0) + 1;
  });
  const ended = new Promise<void>((resolve, reject) => {
    call.on('error', reject);
    call.on('end', resolve);
  });
  for (let i = 0; i < count; i++) if (!call.write(request(i))) await once(call, 'drain');
  call.end();
  await ended;
  return tally;
}
