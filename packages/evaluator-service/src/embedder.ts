// Frozen-encoder features from the embedding service (select.embedding.v1.EmbedImages, a bidirectional stream):
// the kNN evaluation's encoder and the input of linear-probe heads. One stream per batch; an image the service
// refuses comes back as that item's error and the batch goes on.
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition, type embeddingV1 } from '@select/contracts';
import { ServiceError, createGrpcClient, unary } from '@select/platform';

const EMBEDDING_SERVICE = 'select.embedding.v1.EmbeddingService';

type EmbedClient = grpc.Client & {
  embedImages(options: grpc.CallOptions): grpc.ClientDuplexStream<embeddingV1.EmbedImageRequest, embeddingV1.EmbedImageResponse__Output>;
};

/** A vector per image, or the reason the service gave for that image. */
export type EmbedOutcome = { ok: true; vector: Float32Array } | { ok: false; message: string };

export interface ImageEmbedder {
  embed(model: string, images: readonly Uint8Array[], signal?: AbortSignal): Promise<EmbedOutcome[]>;
  /** The feature dimension of `model` as the service describes it; undefined when it cannot say (checked later on real features). */
  dimension?(model: string): Promise<number | undefined>;
  close(): void;
}

export class GrpcImageEmbedder implements ImageEmbedder {
  #client: EmbedClient | undefined;

  constructor(private readonly address: string | undefined) {}

  embed(model: string, images: readonly Uint8Array[], signal?: AbortSignal): Promise<EmbedOutcome[]> {
    if (!this.address) {
      return Promise.reject(ServiceError.failedPrecondition('no embedding service configured (EVALUATOR_EMBEDDING_ADDRESS); kNN and features heads need one'));
    }
    this.#client ??= createGrpcClient(packageDefinition('embedding'), EMBEDDING_SERVICE, this.address, { defaultDeadlineMs: 0 }) as EmbedClient;
    const call = this.#client.embedImages({});
    const out: EmbedOutcome[] = new Array<EmbedOutcome>(images.length);
    return new Promise((resolve, reject) => {
      const abort = (): void => call.cancel();
      signal?.addEventListener('abort', abort, { once: true });
      call.on('data', (r: embeddingV1.EmbedImageResponse__Output) => {
        const i = Number(r.itemId);
        out[i] = r.embedding ? { ok: true, vector: Float32Array.from(r.embedding.vector) } : { ok: false, message: `${r.error?.code ?? 'UNKNOWN'}: ${r.error?.message ?? ''}` };
      });
      call.on('error', (err: Error) => {
        signal?.removeEventListener('abort', abort);
        reject(signal?.aborted ? signal.reason : ServiceError.unavailable(`embedding service at ${this.address}: ${err.message}`));
      });
      call.on('end', () => {
        signal?.removeEventListener('abort', abort);
        for (let i = 0; i < out.length; i++) out[i] ??= { ok: false, message: 'the embedding service sent no answer for this image' };
        resolve(out);
      });
      images.forEach((image, i) => call.write({ itemId: String(i), model, image }));
      call.end();
    });
  }

  async dimension(model: string): Promise<number | undefined> {
    if (!this.address) return undefined;
    this.#client ??= createGrpcClient(packageDefinition('embedding'), EMBEDDING_SERVICE, this.address, { defaultDeadlineMs: 0 }) as EmbedClient;
    try {
      const info = await unary<embeddingV1.ModelInfo__Output>(this.#client, 'GetModel', { name: model }, { deadlineMs: 10_000 });
      return info.dimension || undefined;
    } catch {
      // an unknown model or an unreachable service fails the job's embedding phase with its own message
      return undefined;
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}
