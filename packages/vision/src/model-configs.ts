import { ImageDecodeError } from './errors.js';
import type { ImagePreprocessing } from './preprocess.js';
import type { Interpolation } from './resample.js';

// PIL.Image.Resampling values as Hugging Face configs store them
const PIL_RESAMPLE: Record<number, Interpolation> = { 2: 'bilinear', 3: 'bicubic' };

function triple(value: unknown, what: string): [number, number, number] {
  const arr: unknown = typeof value === 'number' ? [value, value, value] : value;
  if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((v) => typeof v === 'number')) {
    throw new ImageDecodeError('invalid-preprocessing', `${what} must be a number or 3 numbers, got ${JSON.stringify(value)}`);
  }
  const [a, b, c] = arr as [number, number, number];
  return [a, b, c];
}

function hw(value: unknown, what: string): { width: number; height: number } {
  if (typeof value === 'number') return { width: value, height: value };
  const v = value as { height?: unknown; width?: unknown } | null;
  if (v && typeof v.height === 'number' && typeof v.width === 'number') return { width: v.width, height: v.height };
  throw new ImageDecodeError('invalid-preprocessing', `${what} must be a number or {height, width}, got ${JSON.stringify(value)}`);
}

/**
 * The preprocessing of a Hugging Face `preprocessor_config.json` (CLIPImageProcessor and the processors that
 * share its keys: do_resize/size/resample, do_center_crop/crop_size, do_rescale/rescale_factor,
 * do_normalize/image_mean/image_std), with the PIL backend's semantics.
 */
export function fromHfImageProcessorConfig(config: Record<string, unknown>): ImagePreprocessing {
  if (config['do_resize'] === false) {
    throw new ImageDecodeError('invalid-preprocessing', 'do_resize=false: images of arbitrary size cannot be batched');
  }
  const size = config['size'] ?? { shortest_edge: 224 };
  let resize: ImagePreprocessing['resize'];
  if (typeof size === 'number') resize = { mode: 'shortest-edge', size };
  else if (typeof (size as { shortest_edge?: unknown }).shortest_edge === 'number') {
    resize = { mode: 'shortest-edge', size: (size as { shortest_edge: number }).shortest_edge };
  } else resize = { mode: 'fixed', ...hw(size, 'size') };
  const resample = typeof config['resample'] === 'number' ? config['resample'] : 3;
  const interpolation = PIL_RESAMPLE[resample];
  if (!interpolation) throw new ImageDecodeError('invalid-preprocessing', `unsupported resample ${resample} (only bilinear=2, bicubic=3)`);
  const crop = config['do_center_crop'] === false ? null : { ...hw(config['crop_size'] ?? 224, 'crop_size'), offset: 'floor' as const };
  const normalize = config['do_normalize'] !== false;
  return {
    resize,
    interpolation,
    crop,
    rescale: config['do_rescale'] === false ? 1 : typeof config['rescale_factor'] === 'number' ? config['rescale_factor'] : 1 / 255,
    mean: normalize ? triple(config['image_mean'] ?? [0.48145466, 0.4578275, 0.40821073], 'image_mean') : [0, 0, 0],
    std: normalize ? triple(config['image_std'] ?? [0.26862954, 0.26130258, 0.27577711], 'image_std') : [1, 1, 1],
  };
}

/**
 * The eval preprocessing timm derives from a model's `pretrained_cfg` (timm.data.create_transform):
 * Resize(floor(size / crop_pct)) with the configured interpolation, CenterCrop(size), ToTensor, Normalize —
 * e.g. Resize 256 bicubic + CenterCrop 224 for crop_pct 0.875.
 */
export function fromTimmPretrainedCfg(cfg: Record<string, unknown>): ImagePreprocessing {
  const inputSize = cfg['input_size'];
  if (!Array.isArray(inputSize) || inputSize.length !== 3) {
    throw new ImageDecodeError('invalid-preprocessing', `pretrained_cfg.input_size must be [3, H, W], got ${JSON.stringify(inputSize)}`);
  }
  const [, h, w] = inputSize as [number, number, number];
  const cropPct = typeof cfg['crop_pct'] === 'number' ? cfg['crop_pct'] : 0.875;
  const mode = cfg['crop_mode'] ?? 'center';
  const interpolation = cfg['interpolation'] ?? 'bilinear';
  if (interpolation !== 'bicubic' && interpolation !== 'bilinear') {
    throw new ImageDecodeError('invalid-preprocessing', `unsupported interpolation ${String(interpolation)}`);
  }
  const scaleH = Math.floor(h / cropPct);
  const scaleW = Math.floor(w / cropPct);
  let resize: ImagePreprocessing['resize'];
  if (mode === 'squash' || (mode === 'center' && scaleH !== scaleW)) resize = { mode: 'fixed', width: scaleW, height: scaleH };
  else if (mode === 'center') resize = { mode: 'shortest-edge', size: scaleH };
  else throw new ImageDecodeError('invalid-preprocessing', `unsupported crop_mode ${String(mode)}`);
  return {
    resize,
    interpolation,
    crop: { width: w, height: h, offset: 'round-half-even' },
    rescale: 1 / 255,
    mean: triple(cfg['mean'] ?? [0.485, 0.456, 0.406], 'mean'),
    std: triple(cfg['std'] ?? [0.229, 0.224, 0.225], 'std'),
  };
}
