// Pillow's separable convolution resampling (libImaging/Resample.c), reproduced to the bit so that vectors
// computed here match those of Python pipelines that resize with Pillow (Hugging Face image processors,
// torchvision transforms on PIL images, timm). sharp/libvips resamples with different kernels and rounding,
// which moves CLIP vectors by ~1e-2 — far outside the 1e-4 the reference tests demand.

/** Interpolation kernels Pillow offers for downscaling and upscaling alike. */
export type Interpolation = 'bicubic' | 'bilinear';

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<Interpolation, Filter> = {
  bicubic: {
    support: 2,
    // Keys' cubic with a = -0.5, as Pillow defines it
    weight(x: number): number {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: {
    support: 1,
    weight(x: number): number {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
};

// Pillow's fixed-point precision for 8-bit images: coefficients carry 22 fractional bits
const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

interface Coefficients {
  /** Kernel taps per output sample (the stride of `weights`). */
  ksize: number;
  /** First input index of each output sample's window. */
  start: Int32Array;
  /** Window length of each output sample. */
  count: Int32Array;
  /** Fixed-point weights, `ksize` per output sample. */
  weights: Int32Array;
}

function precompute(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    // C's (int) cast truncates toward zero
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** A rectangle of the resized image to produce: what a center crop keeps. */
export interface ResampleWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resize interleaved 8-bit RGB from `srcWidth`x`srcHeight` to `dstWidth`x`dstHeight` exactly as Pillow's
 * `Image.resize(size, resample)` does (horizontal pass, uint8 rounding, vertical pass), but compute only the
 * pixels inside `window` of the resized image: a crop after the resize costs nothing extra. Returns the
 * window's interleaved RGB pixels.
 */
export function resampleRgb(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  interpolation: Interpolation,
  window: ResampleWindow = { left: 0, top: 0, width: dstWidth, height: dstHeight },
): Uint8Array {
  const filter = FILTERS[interpolation];
  const { left, top, width, height } = window;
  const out = new Uint8Array(width * height * 3);

  const needH = dstWidth !== srcWidth;
  const needV = dstHeight !== srcHeight;
  const vert = needV ? precompute(srcHeight, dstHeight, filter) : null;

  // Source rows the vertical pass will read for the window's rows
  let rowFirst = top;
  let rowEnd = top + height;
  if (vert) {
    rowFirst = vert.start[top]!;
    rowEnd = 0;
    for (let y = top; y < top + height; y++) rowEnd = Math.max(rowEnd, vert.start[y]! + vert.count[y]!);
  }
  const rows = rowEnd - rowFirst;

  // Horizontal pass: rows [rowFirst, rowEnd) of the source, window columns only
  let tmp: Uint8Array;
  if (needH) {
    const { ksize, start, count, weights } = precompute(srcWidth, dstWidth, filter);
    tmp = new Uint8Array(rows * width * 3);
    for (let y = 0; y < rows; y++) {
      const rowBase = (y + rowFirst) * srcWidth * 3;
      const outBase = y * width * 3;
      for (let xx = 0; xx < width; xx++) {
        const ox = xx + left;
        const n = count[ox]!;
        const kBase = ox * ksize;
        // int32 arithmetic throughout: every partial sum stays below 2^31 (see PRECISION_BITS)
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = rowBase + start[ox]! * 3;
        for (let x = 0; x < n; x++, p += 3) {
          const w = weights[kBase + x]!;
          s0 = (s0 + Math.imul(src[p]!, w)) | 0;
          s1 = (s1 + Math.imul(src[p + 1]!, w)) | 0;
          s2 = (s2 + Math.imul(src[p + 2]!, w)) | 0;
        }
        const o = outBase + xx * 3;
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
  } else {
    tmp = new Uint8Array(rows * width * 3);
    for (let y = 0; y < rows; y++) {
      const from = ((y + rowFirst) * srcWidth + left) * 3;
      tmp.set(src.subarray(from, from + width * 3), y * width * 3);
    }
  }

  if (!vert) {
    out.set(tmp.subarray(0, width * height * 3));
    return out;
  }

  // Vertical pass over the horizontally resampled rows, accumulating whole rows so memory is read in order
  const { ksize, start, count, weights } = vert;
  const stride = width * 3;
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < height; yy++) {
    const oy = yy + top;
    const ymin = start[oy]! - rowFirst;
    const n = count[oy]!;
    const kBase = oy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const w = weights[kBase + y]!;
      const rowBase = (ymin + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i]! + Math.imul(tmp[rowBase + i]!, w)) | 0;
    }
    const outBase = yy * stride;
    for (let i = 0; i < stride; i++) out[outBase + i] = clip8(acc[i]!);
  }
  return out;
}
