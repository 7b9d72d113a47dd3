import { DynamicBatcher, SessionPool, float32, int64, type ModelSignature, type SessionPoolOptions, type SubmitOptions } from '@select/inference';
import { PreprocessPool, outputSize, tensorLength, type PreprocessPoolOptions } from '@select/vision';
import { ModelLayoutError, TextInputError, UnknownModelError, UnsupportedInputError } from './errors.js';
import type { ModelSpec } from './model-layout.js';
import { TextTokenizer, type TokenizedText } from './text-tokenizer.js';

export interface BatchingOptions {
  /** Images or texts per inference batch. @default 32 */
  maxBatch?: number;
  /** How long a lone item waits for companions. @default 5 */
  maxWaitMs?: number;
  /** Items waiting per model and modality before new ones are refused (RESOURCE_EXHAUSTED). @default 512 */
  maxQueue?: number;
}

export interface EngineOptions {
  sessions?: SessionPoolOptions;
  preprocess?: PreprocessPoolOptions;
  batching?: BatchingOptions;
  /** Longest text accepted, in characters; longer ones fail (their item only) before tokenising. @default 100_000 */
  maxTextChars?: number;
}

/** One text's vector and what tokenising it did. */
export interface TextVector {
  vector: Float32Array;
  tokenCount: number;
  truncated: boolean;
}

interface LoadedModel {
  spec: ModelSpec;
  imageBatcher?: DynamicBatcher<Float32Array, Float32Array>;
  textBatcher?: DynamicBatcher<number[], Float32Array>;
  tokenizer?: TextTokenizer;
}

const imageSession = (name: string) => `${name}#image`;
const textSession = (name: string) => `${name}#text`;

/** Divide by the Euclidean norm (a zero vector stays zero). */
export function l2Normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

function lastDim(sig: ModelSignature, output: string): number | string | undefined {
  const shape = sig.outputs.find((o) => o.name === output)?.shape;
  return shape?.[shape.length - 1];
}

/**
 * The embedding machinery behind the gRPC surface: ONNX sessions in worker threads, image preprocessing on its
 * own threads, and one dynamic batcher per model and modality, so concurrent callers share batches.
 */
export class EmbeddingEngine {
  private constructor(
    private readonly models: Map<string, LoadedModel>,
    private readonly sessions: SessionPool,
    private readonly preprocessor: PreprocessPool,
    private readonly maxTextChars: number,
  ) {}

  /** Open every model's towers and start the thread pools. */
  static async start(specs: ModelSpec[], options: EngineOptions = {}): Promise<EmbeddingEngine> {
    const onnx: Record<string, string> = {};
    for (const s of specs) {
      if (s.image) onnx[imageSession(s.name)] = s.image.onnx;
      if (s.text) onnx[textSession(s.name)] = s.text.onnx;
    }
    const sessions = await SessionPool.open(onnx, options.sessions);
    const preprocessor = new PreprocessPool(options.preprocess);
    const batching = { maxBatch: 32, maxWaitMs: 5, maxQueue: 512, ...options.batching };
    const concurrency = sessions.options.workers;
    const models = new Map<string, LoadedModel>();
    try {
      for (const spec of specs) {
        const loaded: LoadedModel = { spec };
        if (spec.image) {
          const tower = spec.image;
          const sig = sessions.signatures[imageSession(spec.name)]!;
          const input = sig.inputs.some((i) => i.name === tower.input) ? tower.input : sig.inputs[0]!.name;
          const output = sig.outputs.some((o) => o.name === tower.output) ? tower.output : sig.outputs[0]!.name;
          const dim = lastDim(sig, output);
          if (typeof dim === 'number' && dim !== spec.dimension) {
            throw new ModelLayoutError(spec.dir, `config says dimension ${spec.dimension}, ${tower.onnx} outputs ${dim}`);
          }
          const { width, height } = outputSize(tower.preprocessing);
          const per = tensorLength(tower.preprocessing);
          loaded.imageBatcher = new DynamicBatcher<Float32Array, Float32Array>({
            name: `${spec.name} images`,
            ...batching,
            concurrency,
            runBatch: async (items) => {
              const batch = new Float32Array(items.length * per);
              items.forEach((t, i) => batch.set(t, i * per));
              const out = await sessions.run(imageSession(spec.name), { [input]: float32(batch, [items.length, 3, height, width]) }, [output]);
              const result = out[output]!;
              const d = result.dims[result.dims.length - 1]!;
              const data = result.data as Float32Array;
              return items.map((_, i) => l2Normalize(data.slice(i * d, (i + 1) * d)));
            },
          });
        }
        if (spec.text) {
          const tower = spec.text;
          const tokenizer = new TextTokenizer(tower.tokenizerJson, tower.tokenizerConfig, tower.maxTokens);
          const sig = sessions.signatures[textSession(spec.name)]!;
          const inputs = new Set(sig.inputs.map((i) => i.name));
          const output = sig.outputs.some((o) => o.name === tower.output) ? tower.output : sig.outputs[0]!.name;
          loaded.tokenizer = tokenizer;
          loaded.textBatcher = new DynamicBatcher<number[], Float32Array>({
            name: `${spec.name} texts`,
            ...batching,
            concurrency,
            runBatch: async (items) => {
              const b = items.length;
              const len = Math.max(...items.map((ids) => ids.length));
              const ids = new BigInt64Array(b * len).fill(BigInt(tokenizer.padId));
              const mask = new BigInt64Array(b * len);
              items.forEach((row, i) => {
                row.forEach((id, j) => {
                  ids[i * len + j] = BigInt(id);
                  mask[i * len + j] = 1n;
                });
              });
              const feeds = { input_ids: int64(ids, [b, len]), attention_mask: int64(mask, [b, len]) } as Record<string, ReturnType<typeof int64>>;
              if (inputs.has('token_type_ids')) feeds['token_type_ids'] = int64(new BigInt64Array(b * len), [b, len]);
              for (const name of Object.keys(feeds)) if (!inputs.has(name)) delete feeds[name];
              const out = await sessions.run(textSession(spec.name), feeds, [output]);
              const result = out[output]!;
              const data = result.data as Float32Array;
              if (tower.pooling === 'projected') {
                const d = result.dims[result.dims.length - 1]!;
                return items.map((_, i) => l2Normalize(data.slice(i * d, (i + 1) * d)));
              }
              // mean over the real tokens of each row (sentence-transformers' Pooling, mean mode)
              const h = result.dims[2]!;
              return items.map((row, i) => {
                const v = new Float32Array(h);
                for (let j = 0; j < row.length; j++) {
                  const base = (i * len + j) * h;
                  for (let k = 0; k < h; k++) v[k] = v[k]! + data[base + k]!;
                }
                for (let k = 0; k < h; k++) v[k] = v[k]! / row.length;
                return l2Normalize(v);
              });
            },
          });
        }
        models.set(spec.name, loaded);
      }
    } catch (err) {
      await sessions.close();
      await preprocessor.close();
      throw err;
    }
    return new EmbeddingEngine(models, sessions, preprocessor, options.maxTextChars ?? 100_000);
  }

  /** Specs of the loaded models, by name. */
  get specs(): ModelSpec[] {
    return [...this.models.values()].map((m) => m.spec);
  }

  /** The loaded model called `name`; throws UnknownModelError. */
  spec(name: string): ModelSpec {
    return this.model(name).spec;
  }

  private model(name: string): LoadedModel {
    const m = this.models.get(name);
    if (!m) throw new UnknownModelError(name, [...this.models.keys()]);
    return m;
  }

  /** Encoded image bytes to an L2-normalised vector. */
  async embedImage(modelName: string, bytes: Uint8Array, options: SubmitOptions = {}): Promise<Float32Array> {
    const model = this.model(modelName);
    if (!model.imageBatcher || !model.spec.image) throw new UnsupportedInputError(`model ${modelName} is ${model.spec.kind}: it does not embed images`);
    const { tensor } = await this.preprocessor.preprocess(bytes, model.spec.image.preprocessing);
    options.signal?.throwIfAborted();
    return model.imageBatcher.submit(tensor, options);
  }

  /** A preprocessed CHW tensor to an L2-normalised vector (what the benchmark's session ceiling is compared to). */
  embedImageTensor(modelName: string, tensor: Float32Array, options: SubmitOptions = {}): Promise<Float32Array> {
    const model = this.model(modelName);
    if (!model.imageBatcher) throw new UnsupportedInputError(`model ${modelName} is ${model.spec.kind}: it does not embed images`);
    return model.imageBatcher.submit(tensor, options);
  }

  /** Tokenise one text with the model's tokenizer (no inference). */
  tokenize(modelName: string, text: string): TokenizedText {
    const model = this.model(modelName);
    if (!model.tokenizer) throw new UnsupportedInputError(`model ${modelName} is ${model.spec.kind}: it does not embed texts`);
    if (text.length > this.maxTextChars) {
      throw new TextInputError(`text has ${text.length} characters, more than the limit of ${this.maxTextChars}`);
    }
    return model.tokenizer.encode(text);
  }

  /** Texts to vectors; a text that cannot be embedded gets an Error in its slot, the others go on. */
  async embedTexts(modelName: string, texts: readonly string[], options: SubmitOptions = {}): Promise<Array<TextVector | Error>> {
    const model = this.model(modelName);
    if (!model.textBatcher) throw new UnsupportedInputError(`model ${modelName} is ${model.spec.kind}: it does not embed texts`);
    const batcher = model.textBatcher;
    return Promise.all(
      texts.map(async (text) => {
        try {
          const tok = this.tokenize(modelName, text);
          const vector = await batcher.submit(tok.ids, options);
          return { vector, tokenCount: tok.tokenCount, truncated: tok.truncated };
        } catch (err) {
          return err as Error;
        }
      }),
    );
  }

  /** Finish queued work, release every session, stop the threads. */
  async close(): Promise<void> {
    for (const m of this.models.values()) {
      await m.imageBatcher?.close();
      await m.textBatcher?.close();
    }
    await this.sessions.close();
    await this.preprocessor.close();
  }
}
