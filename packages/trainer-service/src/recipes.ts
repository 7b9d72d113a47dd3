import { ServiceError } from '@select/platform';
import type { trainerV1 } from '@select/contracts';

/** Every value of a training recipe, in timm train.py's argument names (what recipe.yaml holds). */
export interface Recipe {
  model: string;
  img_size: number;
  batch_size: number;
  validation_batch_size: number;
  epochs: number;
  opt: string;
  lr: number;
  momentum: number;
  sched: string;
  warmup_epochs: number;
  warmup_lr: number;
  min_lr: number;
  weight_decay: number;
  smoothing: number;
  mixup: number;
  cutmix: number;
  crop_pct: number;
  interpolation: string;
  amp: boolean;
  seed: number;
  workers: number;
  log_interval: number;
}

/** SELECT's recipe (DESIGN.md, SELECT's train/config/*.yaml): resnet50 from scratch on the OI1000 schedule. */
const SELECT: Recipe = {
  model: 'resnet50',
  img_size: 192,
  batch_size: 192,
  validation_batch_size: 192,
  epochs: 50,
  opt: 'sgd',
  lr: 0.5,
  momentum: 0.9,
  sched: 'cosine',
  warmup_epochs: 5,
  warmup_lr: 1e-6,
  min_lr: 0,
  weight_decay: 2e-5,
  smoothing: 0.1,
  mixup: 0.2,
  cutmix: 1.0,
  crop_pct: 0.95,
  interpolation: 'bicubic',
  amp: true,
  seed: 0,
  workers: 4,
  log_interval: 50,
};

export interface NamedRecipe {
  name: string;
  description: string;
  recipe: Recipe;
}

/** The named recipes; `select` is the default of the timm backend. */
export const RECIPES: readonly NamedRecipe[] = [
  { name: 'select', description: "SELECT's ResNet-50 recipe, OI1000 schedule (batch 192, 50 epochs)", recipe: SELECT },
  { name: 'select-sd1000', description: "SELECT's ResNet-50 recipe, SD1000 schedule (batch 192, 600 epochs)", recipe: { ...SELECT, epochs: 600 } },
  {
    name: 'select-laion1000',
    description: "SELECT's ResNet-50 recipe, LAION1000 schedule (batch 768, 600 epochs)",
    recipe: { ...SELECT, batch_size: 768, validation_batch_size: 768, epochs: 600 },
  },
  {
    name: 'cpu-tiny',
    description: "timm's test_resnet at 32 px for 2 epochs on CPU, no mixup/cutmix: checks the machinery in seconds",
    recipe: {
      ...SELECT,
      model: 'test_resnet',
      img_size: 32,
      batch_size: 16,
      validation_batch_size: 64,
      epochs: 2,
      lr: 0.1,
      warmup_epochs: 0,
      mixup: 0,
      cutmix: 0,
      amp: false,
      workers: 0,
      log_interval: 2,
    },
  },
];

export const DEFAULT_RECIPE = 'select';
const INTERPOLATIONS = ['bilinear', 'bicubic', 'nearest', 'random'];
const SCHEDULES = ['cosine', 'tanh', 'step', 'multistep', 'plateau', 'poly'];

export function namedRecipe(name: string): NamedRecipe {
  const found = RECIPES.find((r) => r.name === (name || DEFAULT_RECIPE));
  if (!found) throw ServiceError.invalidArgument(`recipe_name "${name}" is not one of ${RECIPES.map((r) => r.name).join(', ')}`);
  return found;
}

/** The recipe a request asks for: its named recipe with every non-zero field of `recipe` put over it; validated. */
export function resolveRecipe(name: string, overrides: trainerV1.TrainingRecipe__Output | null | undefined): Recipe {
  const base = { ...namedRecipe(name).recipe };
  const o = overrides;
  if (o) {
    const set = <K extends keyof Recipe>(key: K, value: Recipe[K] | undefined | null): void => {
      if (value !== undefined && value !== null && value !== 0 && value !== '' && value !== false) base[key] = value;
    };
    set('model', o.model);
    set('img_size', o.imgSize);
    set('batch_size', o.batchSize);
    set('validation_batch_size', o.validationBatchSize);
    set('epochs', o.epochs);
    set('opt', o.opt);
    set('lr', o.lr);
    set('momentum', o.momentum);
    set('sched', o.sched);
    set('warmup_epochs', o.warmupEpochs);
    set('warmup_lr', o.warmupLr);
    set('min_lr', o.minLr);
    set('weight_decay', o.weightDecay);
    set('smoothing', o.smoothing);
    set('mixup', o.mixup);
    set('cutmix', o.cutmix);
    set('crop_pct', o.cropPct);
    set('interpolation', o.interpolation);
    if (o.amp) base.amp = true;
    if (o.seed !== undefined && o.seed !== null && Number(o.seed) !== 0) base.seed = Number(o.seed);
    set('workers', o.workers);
    set('log_interval', o.logInterval);
  }
  validateRecipe(base);
  return base;
}

/** INVALID_ARGUMENT naming every bad value, or nothing. */
export function validateRecipe(r: Recipe): void {
  const bad: string[] = [];
  const range = (key: keyof Recipe, lo: number, hi: number, loOpen = false): void => {
    const v = r[key] as number;
    if (!Number.isFinite(v) || v > hi || (loOpen ? v <= lo : v < lo)) bad.push(`${key} ${v} is outside ${loOpen ? '(' : '['}${lo}, ${hi}]`);
  };
  if (!/^[A-Za-z0-9_.\-/]+$/.test(r.model)) bad.push(`model "${r.model}" is not a timm model name`);
  range('img_size', 8, 4096);
  range('batch_size', 1, 1 << 16);
  range('validation_batch_size', 1, 1 << 16);
  range('epochs', 1, 100_000);
  if (!/^[a-z0-9_]+$/.test(r.opt)) bad.push(`opt "${r.opt}" is not a timm optimizer name`);
  range('lr', 0, 100, true);
  range('momentum', 0, 0.999999);
  if (!SCHEDULES.includes(r.sched)) bad.push(`sched "${r.sched}" is not one of ${SCHEDULES.join(', ')}`);
  range('warmup_epochs', 0, 100_000);
  if (r.warmup_epochs >= r.epochs && r.warmup_epochs > 0) bad.push(`warmup_epochs ${r.warmup_epochs} must be fewer than epochs ${r.epochs}`);
  range('warmup_lr', 0, 100);
  range('min_lr', 0, 100);
  range('weight_decay', 0, 10);
  range('smoothing', 0, 0.999999);
  range('mixup', 0, 100);
  range('cutmix', 0, 100);
  range('crop_pct', 0, 1, true);
  if (!INTERPOLATIONS.includes(r.interpolation)) bad.push(`interpolation "${r.interpolation}" is not one of ${INTERPOLATIONS.join(', ')}`);
  if (!Number.isSafeInteger(r.seed) || r.seed < 0 || r.seed > 2 ** 32 - 1) bad.push(`seed ${r.seed} must be an integer in [0, 2^32)`);
  range('workers', 0, 256);
  range('log_interval', 1, 1_000_000);
  if (bad.length > 0) throw ServiceError.invalidArgument(`invalid recipe: ${bad.join('; ')}`);
}

/** The recipe as a timm train.py config file (-c recipe.yaml): one `key: value` line per argument. */
export function recipeYaml(r: Recipe): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? yamlNumber(v) : String(v)}`)
    .join('\n')
    .concat('\n');
}

/** The proto shape of a recipe (ListRecipes, TrainingRun.recipe). */
export function recipeMessage(r: Recipe): trainerV1.TrainingRecipe {
  return {
    model: r.model,
    imgSize: r.img_size,
    batchSize: r.batch_size,
    validationBatchSize: r.validation_batch_size,
    epochs: r.epochs,
    opt: r.opt,
    lr: r.lr,
    momentum: r.momentum,
    sched: r.sched,
    warmupEpochs: r.warmup_epochs,
    warmupLr: r.warmup_lr,
    minLr: r.min_lr,
    weightDecay: r.weight_decay,
    smoothing: r.smoothing,
    mixup: r.mixup,
    cutmix: r.cutmix,
    cropPct: r.crop_pct,
    interpolation: r.interpolation,
    amp: r.amp,
    seed: String(r.seed),
    workers: r.workers,
    logInterval: r.log_interval,
  };
}

/** PyYAML (YAML 1.1) reads `1e-7` as a string: exponents get a mantissa with a dot. */
function yamlNumber(v: number): string {
  const text = String(v);
  return /e/i.test(text) && !text.includes('.') ? text.replace(/e/i, '.0e') : text;
}
