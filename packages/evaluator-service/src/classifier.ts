// An ONNX classifier as the trainer exports it: a directory with model.onnx and config.json (timm's export:
// pretrained_cfg + label_names; a linear-probe head: type "linear-probe-head", input "features", label_names and
// the embedding model its features come from), or a bare .onnx file (1000 ImageNet outputs, or a subset's).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { float32, SessionPool, type ModelSignature } from '@select/inference';
import { ServiceError } from '@select/platform';
import { fromTimmPretrainedCfg, type ImagePreprocessing } from '@select/vision';
import { LabelSpaceError } from './errors.js';

export interface ClassifierInfo {
  file: string;
  /** `<name>@<sha256 prefix>` */
  modelId: string;
  inputName: string;
  outputName: string;
  /** 'images': [N, 3, H, W]; 'features': [N, D] over an embedding model's features. */
  input: 'images' | 'features';
  /** Fixed input height and width, when the graph fixes them. */
  inputSize: { height: number; width: number } | undefined;
  /** Output width (classes the model scores). */
  outputs: number;
  /** Wnids of the outputs when the export names them (config.json label_names). */
  labelNames: string[] | undefined;
  /** The model's own preprocessing (timm pretrained_cfg), when its config has one. */
  preprocessing: ImagePreprocessing | undefined;
  /** Embedding model a features head expects. */
  embeddingModel: string | undefined;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function fixedDim(value: number | string | undefined): number | undefined {
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/** An opened classifier: metadata plus a session pool; `run` scores one batch. */
export class Classifier {
  private constructor(
    readonly info: ClassifierInfo,
    private readonly pool: SessionPool,
  ) {}

  static async open(uri: string, options: { threads?: number } = {}): Promise<Classifier> {
    let file = uri;
    const isDir = existsSync(uri) && (await stat(uri)).isDirectory();
    if (isDir) file = join(uri, 'model.onnx');
    if (!existsSync(file)) throw ServiceError.notFound(`no ONNX model at ${file} (give a model.onnx or the directory the trainer exported)`);
    const configFile = join(isDir ? uri : dirname(file), 'config.json');
    let config: Record<string, unknown> = {};
    if (existsSync(configFile)) {
      try {
        config = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
      } catch (cause) {
        throw ServiceError.invalidArgument(`the model's config.json is not valid JSON: ${(cause as Error).message}`, { cause });
      }
    }
    const pool = await SessionPool.open({ classifier: file }, { workers: 1, ...(options.threads ? { intraOpThreads: options.threads } : {}) }).catch((cause: Error) => {
      throw ServiceError.failedPrecondition(`cannot load the ONNX model ${file}: ${cause.message}`, { cause });
    });
    try {
      const signature: ModelSignature = pool.signatures['classifier']!;
      const input = signature.inputs[0]!;
      const output = signature.outputs[0]!;
      const rank = input.shape.length;
      if (rank !== 4 && rank !== 2) throw new LabelSpaceError(`the model's input ${input.name} has rank ${rank}; expected images [N, 3, H, W] or features [N, D]`);
      const outputs = fixedDim(output.shape[1]);
      if (output.shape.length !== 2 || outputs === undefined) {
        throw new LabelSpaceError(`the model's output ${output.name} has shape [${output.shape.join(', ')}]; expected logits [N, classes] with a fixed class count`);
      }
      const labelNames = Array.isArray(config['label_names']) ? (config['label_names'] as unknown[]).map(String) : undefined;
      if (labelNames && labelNames.length !== outputs) {
        throw new LabelSpaceError(`config.json names ${labelNames.length} labels but the model has ${outputs} outputs`);
      }
      const pretrained = (config['pretrained_cfg'] ?? undefined) as Record<string, unknown> | undefined;
      const features = (config['features'] ?? undefined) as Record<string, unknown> | undefined;
      const info: ClassifierInfo = {
        file,
        modelId: `${isDir ? basename(uri) : basename(file)}@${(await sha256(file)).slice(0, 12)}`,
        inputName: input.name,
        outputName: output.name,
        input: rank === 4 ? 'images' : 'features',
        inputSize: rank === 4 && fixedDim(input.shape[2]) && fixedDim(input.shape[3]) ? { height: input.shape[2] as number, width: input.shape[3] as number } : undefined,
        outputs,
        labelNames,
        preprocessing: pretrained ? fromTimmPretrainedCfg(pretrained) : undefined,
        embeddingModel: typeof features?.['embedding_model'] === 'string' ? features['embedding_model'] : undefined,
      };
      return new Classifier(info, pool);
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /** Logits of a batch: `inputs` holds `batch` rows of `rowLength` floats; returns batch x outputs. */
  async run(inputs: Float32Array, dims: number[]): Promise<Float32Array> {
    const out = await this.pool.run('classifier', { [this.info.inputName]: float32(inputs, dims) }, [this.info.outputName]);
    return out[this.info.outputName]!.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
