import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelNotFoundError, StableDiffusionPipeline, type GenerationLimits } from '@select/diffusion';
import type { Logger } from '@select/platform';

/** The models of GENERATION_MODELS_DIR, loaded once at start; each owns a worker thread of sessions. */
export class ModelRegistry {
  private constructor(
    private readonly pipelines: ReadonlyMap<string, StableDiffusionPipeline>,
    readonly defaultModel: string,
  ) {}

  static async load(
    modelsDir: string,
    options: { defaultModel?: string | undefined; limits: GenerationLimits; intraOpThreads: number; logger: Logger },
  ): Promise<ModelRegistry> {
    const names = (await readdir(modelsDir)).sort((a, b) => a.localeCompare(b));
    // stat, not the dirent: model directories are often symlinks into a shared model store.
    const dirs = (await Promise.all(names.map(async (name) => ((await stat(join(modelsDir, name))).isDirectory() ? name : undefined)))).filter(
      (n): n is string => n !== undefined,
    );
    const pipelines = new Map<string, StableDiffusionPipeline>();
    try {
      for (const entry of dirs.map((name) => ({ name }))) {
        const pipeline = await StableDiffusionPipeline.load(join(modelsDir, entry.name), {
          name: entry.name,
          limits: options.limits,
          intraOpThreads: options.intraOpThreads,
        });
        pipelines.set(entry.name, pipeline);
        options.logger.info({ model: entry.name, ...pipeline.info }, 'model loaded');
      }
    } catch (err) {
      await Promise.all([...pipelines.values()].map((p) => p.dispose()));
      throw err;
    }
    if (pipelines.size === 0) throw new Error(`no model directories under ${modelsDir}`);
    const fallback = [...pipelines.values()].find((p) => p.info.pipeline === 'text-to-image') ?? [...pipelines.values()][0]!;
    const defaultModel = options.defaultModel ?? fallback.info.name;
    if (!pipelines.has(defaultModel)) {
      await Promise.all([...pipelines.values()].map((p) => p.dispose()));
      throw new Error(`GENERATION_DEFAULT_MODEL=${defaultModel} is not one of the models: ${[...pipelines.keys()].join(', ')}`);
    }
    return new ModelRegistry(pipelines, defaultModel);
  }

  /** The model by name; '' picks the default, or the first image-variations model for variations. */
  get(name: string, kind: 'text-to-image' | 'image-variation' = 'text-to-image'): StableDiffusionPipeline {
    if (name === '') {
      const preferred = kind === 'image-variation' ? [...this.pipelines.values()].find((p) => p.info.pipeline === 'image-variation') : undefined;
      return preferred ?? this.pipelines.get(this.defaultModel)!;
    }
    const pipeline = this.pipelines.get(name);
    if (!pipeline) throw new ModelNotFoundError(`no model named ${JSON.stringify(name)}; available: ${[...this.pipelines.keys()].join(', ')}`);
    return pipeline;
  }

  list(): StableDiffusionPipeline[] {
    return [...this.pipelines.values()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.pipelines.values()].map((p) => p.dispose()));
  }
}
