// The embedding benches' gRPC client side, shared by bench.ts, gc-profile.ts and small-requests.ts: a client with room for large
// messages, and one EmbedImages stream of JPEGs that respects back-pressure.
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '@select/contracts';

/** A client of the EmbeddingService at `address` (64 MB messages each way). */
export function embeddingClient(address: string) {
  const Service = loadProto('embedding').select.embedding.v1.EmbeddingService;
  return new Service(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 << 20,
    'grpc.max_receive_message_length': 64 << 20,
  });
}

/**
 * One EmbedImages stream of `items` (item ids are their indexes) for `model`; resolves with the answers received,
 * rejects if any item failed. With `into`, each vector lands at row itemId of it (rows of `dimension`).
 */
export function embedImagesStream(client: ReturnType<typeof embeddingClient>, model: string, items: Buffer[], into?: Float32Array, dimension = 512): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const call = client.embedImages();
    let received = 0;
    let failed = 0;
    call.on('data', (r: { itemId: string; embedding?: { vector: number[] }; error?: unknown }) => {
      received++;
      if (r.error || !r.embedding) failed++;
      else into?.set(r.embedding.vector, Number(r.itemId) * dimension);
    });
    call.on('error', reject);
    call.on('end', () => (failed ? reject(new Error(`${failed} items failed`)) : resolve(received)));
    void (async () => {
      for (const [i, image] of items.entries()) {
        if (!call.write({ itemId: String(i), model, image })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })();
  });
}
