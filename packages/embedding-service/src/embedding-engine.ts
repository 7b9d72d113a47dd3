import { relative } from 'node:path';
import { DynamicBatcher, SessionPool, float32, int64, type ModelSignature, type SessionPoolOptions, type SubmitOptions, type TensorData } from '@select/inference';
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
  /**
   * Share a queue too short to fill every inference worker evenly between them (the batcher's `balance`): 32
   * images waiting for two idle workers run as 16 + 16, and near the end of a stream a worker that comes free takes
   * half of what waits instead of all of it. False runs every batch as full as the queue allows.
   * @default true
   */
  balance?: boolean;
}

export interface EngineOptions {
  sessions?: SessionPoolOptions;
  preprocess?: PreprocessPoolOptions;
  batching?: BatchingOptions;
  /** Longest text accepted, in characters; longer ones fail (their item only) before tokenising. @default 100_000 */
  maxTextChars?: number;
  /**
   * Keep image tensors and batches in shared memory and reuse it: the preprocessing threads write each image into
   * a SharedArrayBuffer that goes back to their pool once the image is copied into its batch, and each batch is a
   * reused SharedArrayBuffer the inference worker reads in place. Buffers that arrive by transfer count as new
   * memory for V8 (~1.2 MB per 224² image), which at full load made it mark the main heap about once a second.
   * False transfers fresh buffers, as before 2026-12-07. Overrides `preprocess.sharedTensors`.
   * @default true
   */
  recycleBuffers?: boolean;
}

/** An image waiting for its batch: its tensor, and whether it came from the preprocessing pool (and goes back). */
interface ImageItem {
  tensor: Float32Array;
  pooled: boolean;
}

/** One text's vector and what tokenising it did. */
export interface TextVector {
  vector: Float32Array;
  tokenCount: number;
  truncated: boolean;
}

interface LoadedModel {
  spec: ModelSpec;
  imageBatcher: DynamicBatcher<ImageItem, Float32Array> | undefined;
  textBatcher: DynamicBatcher<number[], Float32Array> | undefined;
  tokenizer: TextTokenizer | undefined;
}

/** Session key of a graph: one session per file, so a combined CLIP graph serving both towers is opened once. */
const sessionKey = (spec: ModelSpec, onnx: string) => `${spec.name}:${relative(spec.dir, onnx)}`;

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

function checkedOutput(spec: ModelSpec, onnx: string, sig: ModelSignature, wanted: string): string {
  const output = sig.outputs.some((o) => o.name === wanted) ? wanted : sig.outputs[0]!.name;
  const dim = lastDim(sig, output);
  if (typeof dim === 'number' && dim !== spec.dimension) {
    throw new ModelLayoutError(spec.dir, `config says dimension ${spec.dimension}, ${onnx} output ${output} has ${dim}`);
  }
  return output;
}

/**
 * Inputs a tower's graph requires beyond its own: a combined CLIP graph (optimum's single model.onnx) takes
 * input_ids, attention_mask and pixel_values in every run, whichever embedding is wanted. The other tower gets
 * the smallest valid input, one item: the empty text (start and end token) for an image batch, one black image
 * for a text batch. The first costs a 2-token text pass per batch, next to nothing; the second costs one image's
 * vision pass per text batch (for ViT-B/32 about what embedding one more image costs), which a split export
 * avoids. Returns a factory: feeds are transferred to the worker, so every batch needs fresh buffers.
 */
function companionFeeds(spec: ModelSpec, sig: ModelSignature, own: ReadonlySet<string>, tokenizer: TextTokenizer | undefined): () => Record<string, TensorData> {
  const makers: Array<() => [string, TensorData]> = [];
  for (const { name } of sig.inputs) {
    if (own.has(name)) continue;
    if ((name === 'input_ids' || name === 'attention_mask' || name === 'token_type_ids') && tokenizer) {
      const ids = tokenizer.encode('').ids;
      const fill = (i: number) => (name === 'input_ids' ? BigInt(ids[i]!) : name === 'attention_mask' ? 1n : 0n);
      makers.push(() => [name, int64(BigInt64Array.from(ids, (_, i) => fill(i)), [1, ids.length])]);
    } else if (name === 'pixel_values' && spec.image) {
      const { width, height } = outputSize(spec.image.preprocessing);
      makers.push(() => [name, float32(new Float32Array(3 * height * width), [1, 3, height, width])]);
    } else {
      throw new ModelLayoutError(spec.dir, `graph input ${name} is neither this tower's input nor one the service knows how to fill`);
    }
  }
  return () => Object.fromEntries(makers.map((make) => make()));
}

function imageBatcher(
  spec: ModelSpec,
  sessions: SessionPool,
  batching: BatchDefaults,
  tokenizer: TextTokenizer | undefined,
  preprocessor: PreprocessPool,
): DynamicBatcher<ImageItem, Float32Array> {
  const tower = spec.image!;
  const session = sessionKey(spec, tower.onnx);
  const sig = sessions.signatures[session]!;
  const input = sig.inputs.some((i) => i.name === tower.input) ? tower.input : sig.inputs[0]!.name;
  const output = checkedOutput(spec, tower.onnx, sig, tower.output);
  const companions = companionFeeds(spec, sig, new Set([input]), tokenizer);
  const { width, height } = outputSize(tower.preprocessing);
  const per = tensorLength(tower.preprocessing);
  // with recycled buffers (the pool's shared tensors), batch buffers in shared memory too, reused: one per batch
  // that can run at once (the worker reads them in place)
  const recycle = preprocessor.options.sharedTensors;
  const spareBatches: Float32Array[] = [];
  const batchBuffer = (k: number): Float32Array =>
    recycle ? (spareBatches.pop() ?? new Float32Array(new SharedArrayBuffer(batching.maxBatch * per * Float32Array.BYTES_PER_ELEMENT))) : new Float32Array(k * per);
  return new DynamicBatcher<ImageItem, Float32Array>({
    name: `${spec.name} images`,
    ...batching,
    runBatch: async (items) => {
      const whole = batchBuffer(items.length);
      const batch = whole.subarray(0, items.length * per);
      items.forEach(({ tensor, pooled }, i) => {
        batch.set(tensor, i * per);
        if (pooled) preprocessor.recycle(tensor);
      });
      let out: Record<string, TensorData>;
      try {
        out = await sessions.run(session, { ...companions(), [input]: float32(batch, [items.length, 3, height, width]) }, [output]);
      } finally {
        // the run has settled: the worker no longer reads the shared buffer
        if (recycle) spareBatches.push(whole);
      }
      const result = out[output]!;
      const d = result.dims[result.dims.length - 1]!;
      const data = result.data as Float32Array;
      return items.map((_, i) => l2Normalize(data.slice(i * d, (i + 1) * d)));
    },
  });
}

function textBatcher(spec: ModelSpec, sessions: SessionPool, batching: BatchDefaults, tokenizer: TextTokenizer): DynamicBatcher<number[], Float32Array> {
  const tower = spec.text!;
  const session = sessionKey(spec, tower.onnx);
  const sig = sessions.signatures[session]!;
  const inputs = new Set(sig.inputs.map((i) => i.name));
  const own = new Set(['input_ids', 'attention_mask', 'token_type_ids'].filter((n) => inputs.has(n)));
  const output = checkedOutput(spec, tower.onnx, sig, tower.output);
  const companions = companionFeeds(spec, sig, own, undefined);
  return new DynamicBatcher<number[], Float32Array>({
    name: `${spec.name} texts`,
    ...batching,
    // rows are padded to the batch's longest text: texts of similar token counts share a batch
    sizeOf: (ids) => ids.length,
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
      const feeds: Record<string, TensorData> = { ...companions(), input_ids: int64(ids, [b, len]), attention_mask: int64(mask, [b, len]) };
      if (own.has('token_type_ids')) feeds['token_type_ids'] = int64(new BigInt64Array(b * len), [b, len]);
      for (const name of Object.keys(feeds)) if (!inputs.has(name)) delete feeds[name];
      const out = await sessions.run(session, feeds, [output]);
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

type BatchDefaults = Required<BatchingOptions> & { concurrency: number };

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
      for (const tower of [s.image, s.text]) if (tower) onnx[sessionKey(s, tower.onnx)] = tower.onnx;
    }
    const sessions = await SessionPool.open(onnx, options.sessions);
    const preprocessor = new PreprocessPool({ ...options.preprocess, sharedTensors: options.recycleBuffers ?? true });
    const batching: BatchDefaults = { maxBatch: 32, maxWaitMs: 5, maxQueue: 512, balance: true, ...options.batching, concurrency: sessions.options.workers };
    const models = new Map<string, LoadedModel>();
    try {
      for (const spec of specs) {
        const tokenizer = spec.text ? new TextTokenizer(spec.text.tokenizerJson, spec.text.tokenizerConfig, spec.text.maxTokens) : undefined;
        models.set(spec.name, {
          spec,
          tokenizer,
          imageBatcher: spec.image ? imageBatcher(spec, sessions, batching, tokenizer, preprocessor) : undefined,
          textBatcher: tokenizer ? textBatcher(spec, sessions, batching, tokenizer) : undefined,
        });
      }
    } catch (err) {
      await sessions.close();
      await preprocessor.close();
      throw err;
    }
    return new EmbeddingEngine(models, sessions, preprocessor, options.maxTextChars ?? 100_000);
  }

  /**
   * Threads the engine runs on and whether ONNX Runtime's intra-op threads spin, as configured or defaulted
   * (SessionPoolOptions, PreprocessPoolOptions).
   */
  get threads(): { inferenceWorkers: number; intraOpThreads: number; allowSpinning: boolean; preprocessThreads: number } {
    return {
      inferenceWorkers: this.sessions.options.workers,
      intraOpThreads: this.sessions.options.intraOpThreads,
      allowSpinning: this.sessions.options.allowSpinning,
      preprocessThreads: this.preprocessor.options.threads,
    };
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
    return model.imageBatcher.submit({ tensor, pooled: true }, options);
  }

  /** A preprocessed CHW tensor to an L2-normalised vector (what the benchmark's session ceiling is compared to). */
  embedImageTensor(modelName: string, tensor: Float32Array, options: SubmitOptions = {}): Promise<Float32Array> {
    const model = this.model(modelName);
    if (!model.imageBatcher) throw new UnsupportedInputError(`model ${modelName} is ${model.spec.kind}: it does not embed images`);
    return model.imageBatcher.submit({ tensor, pooled: false }, options);
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
