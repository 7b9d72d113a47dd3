// Zero-shot prompts as CLIP builds its ImageNet classifier: every template filled with the class name,
// each prompt's text embedding L2-normalised, the mean taken and normalised again.
import { invalidArgument } from './errors.js';
import { normalizeRows, type Matrix } from './vectors.js';

/** CLIP's 80 ImageNet zero-shot templates (Radford et al. 2021, the "Prompt Engineering for ImageNet" notebook), in its order. */
export const CLIP_IMAGENET_TEMPLATES: readonly string[] = [
  'a bad photo of a {}.',
  'a photo of many {}.',
  'a sculpture of a {}.',
  'a photo of the hard to see {}.',
  'a low resolution photo of the {}.',
  'a rendering of a {}.',
  'graffiti of a {}.',
  'a bad photo of the {}.',
  'a cropped photo of the {}.',
  'a tattoo of a {}.',
  'the embroidered {}.',
  'a photo of a hard to see {}.',
  'a bright photo of a {}.',
  'a photo of a clean {}.',
  'a photo of a dirty {}.',
  'a dark photo of the {}.',
  'a drawing of a {}.',
  'a photo of my {}.',
  'the plastic {}.',
  'a photo of the cool {}.',
  'a close-up photo of a {}.',
  'a black and white photo of the {}.',
  'a painting of the {}.',
  'a painting of a {}.',
  'a pixelated photo of the {}.',
  'a sculpture of the {}.',
  'a bright photo of the {}.',
  'a cropped photo of a {}.',
  'a plastic {}.',
  'a photo of the dirty {}.',
  'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.',
  'a photo of the {}.',
  'a good photo of the {}.',
  'a rendering of the {}.',
  'a {} in a video game.',
  'a photo of one {}.',
  'a doodle of a {}.',
  'a close-up photo of the {}.',
  'a photo of a {}.',
  'the origami {}.',
  'the {} in a video game.',
  'a sketch of a {}.',
  'a doodle of the {}.',
  'a origami {}.',
  'a low resolution photo of a {}.',
  'the toy {}.',
  'a rendition of the {}.',
  'a photo of the clean {}.',
  'a photo of a large {}.',
  'a rendition of a {}.',
  'a photo of a nice {}.',
  'a photo of a weird {}.',
  'a blurry photo of a {}.',
  'a cartoon {}.',
  'art of a {}.',
  'a sketch of the {}.',
  'a embroidered {}.',
  'a pixelated photo of a {}.',
  'itap of the {}.',
  'a jpeg corrupted photo of the {}.',
  'a good photo of a {}.',
  'a plushie {}.',
  'a photo of the nice {}.',
  'a photo of the small {}.',
  'a photo of the weird {}.',
  'the cartoon {}.',
  'art of the {}.',
  'a drawing of the {}.',
  'a photo of the large {}.',
  'a black and white photo of a {}.',
  'the plushie {}.',
  'a dark photo of a {}.',
  'itap of a {}.',
  'graffiti of the {}.',
  'a toy {}.',
  'itap of my {}.',
  'a photo of a cool {}.',
  'a photo of a small {}.',
  'a tattoo of the {}.',
];

/** The one template of single-template mode. */
export const SINGLE_TEMPLATE = 'a photo of a {}.';

export const PROMPT_MODES = ['imagenet-80', 'single'] as const;
export type PromptMode = (typeof PROMPT_MODES)[number];

/** Every prompt of a class: the 80 templates, or one (`template`, default `a photo of a {}.`). `{}` is the class name. */
export function classPrompts(className: string, mode: PromptMode, template: string = SINGLE_TEMPLATE): string[] {
  if (className.trim().length === 0) throw invalidArgument('prompt templates: the class name is empty');
  if (mode === 'imagenet-80') return CLIP_IMAGENET_TEMPLATES.map((t) => t.replace('{}', className));
  if (mode !== 'single') throw invalidArgument(`prompt templates: mode must be one of ${PROMPT_MODES.join(', ')} (got ${mode as string})`);
  if (!template.includes('{}')) throw invalidArgument(`prompt templates: the template "${template}" has no {} for the class name`);
  return [template.replace('{}', className)];
}

/** The class embedding from its prompts' embeddings (rows): normalise each, average, normalise. */
export function averagePromptEmbeddings(prompts: Matrix): Float32Array {
  if (prompts.rows === 0) throw invalidArgument('prompt templates: no prompt embeddings to average');
  const unit = normalizeRows({ data: prompts.data.slice(), rows: prompts.rows, dim: prompts.dim }, 'prompt embedding');
  const mean = new Float32Array(prompts.dim);
  for (let r = 0; r < unit.rows; r++) for (let t = 0; t < unit.dim; t++) mean[t]! += unit.data[r * unit.dim + t]! / unit.rows;
  return normalizeRows({ data: mean, rows: 1, dim: prompts.dim }, 'averaged prompt embedding').data;
}
