// Paths and readers for the committed tiny Stable Diffusion fixture (tools/fixtures/tiny-sd).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TINY_SD_DIR = fileURLToPath(new URL('../../../tools/fixtures/tiny-sd/', import.meta.url));
export const TINY_SD_MODEL = `${TINY_SD_DIR}model`;
export const TINY_SD_VARIATIONS_MODEL = `${TINY_SD_DIR}model-variations`;

export interface PipelineReference {
  prompt: string;
  negativePrompt: string;
  height: number;
  width: number;
  steps: number;
  guidanceScale: number;
  inputIds: number[];
  negativeInputIds: number[];
  longPrompt: string;
  longInputIds: number[];
  promptEmbeds: string;
  negativeEmbeds: string;
  initialLatents: string;
  cases: { scheduler: 'ddim' | 'euler' | 'euler-ancestral' | 'unipc'; timesteps: number[]; stepNoise: string[]; latentsPerStep: string[]; image: string; png: string }[];
  variation: { scheduler: 'unipc'; reference: string; guidanceScale: number; imageEmbeds: string; initialLatents: string; image: string; png: string };
  img2img: { scheduler: 'ddim'; strength: number; init: string; noise: string; posteriorNoise: string; timesteps: number[]; image: string; png: string };
}

export const pipelineReference = (): PipelineReference =>
  JSON.parse(readFileSync(`${TINY_SD_DIR}reference.json`, 'utf8')) as PipelineReference;

export const f32 = (b64: string): Float32Array => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
