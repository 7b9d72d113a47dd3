import type { CallContext } from '@select/platform';
import { ServiceError } from '@select/platform';
import type { EmbeddingEngine } from './embedding-engine.js';
import { classify, itemError, toServiceError } from './item-errors.js';
import type { embeddingV1 } from '@select/contracts';

export interface EmbedTextsSettings {
  defaultModel: string;
  maxTextsPerCall: number;
}

/**
 * EmbedTexts: one vector per text, in order. A text that fails alone (too long, queue full) carries its error;
 * an unknown model or a model without a text tower fails the call.
 */
export function embedTextsHandler(engine: EmbeddingEngine, settings: EmbedTextsSettings) {
  return async function embedTexts(req: embeddingV1.EmbedTextsRequest__Output, ctx: CallContext): Promise<embeddingV1.EmbedTextsResponse> {
    const model = req.model || settings.defaultModel;
    if (req.texts.length > settings.maxTextsPerCall) {
      throw ServiceError.invalidArgument(`${req.texts.length} texts in one call; the limit is ${settings.maxTextsPerCall}, split the batch`);
    }
    let results;
    try {
      results = await engine.embedTexts(model, req.texts, { deadline: ctx.deadline, signal: ctx.signal });
    } catch (err) {
      throw toServiceError(err);
    }
    const embeddings = results.map((r, i): embeddingV1.TextEmbedding => {
      if (!(r instanceof Error)) return { vector: Array.from(r.vector), tokenCount: r.tokenCount, truncated: r.truncated };
      if (!classify(r).expected) ctx.logger.error({ err: r, index: i }, 'text item failed');
      return { vector: [], tokenCount: 0, truncated: false, error: itemError(String(i), r) };
    });
    return { embeddings };
  };
}
