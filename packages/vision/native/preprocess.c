// The hot path of @select/vision's image preprocessing, for JPEGs: libjpeg-turbo decode (the library Pillow
// decodes with, Pillow's settings: accurate integer IDCT, fancy upsampling), then Pillow's separable resample
// (libImaging/Resample.c: the same coefficients, 22-bit fixed point, horizontal pass, uint8 rounding, vertical
// pass) computed only over the crop window, then rescale + normalise through the caller's lookup tables straight
// into a float32 CHW tensor. src/resample.ts is the same algorithm in TypeScript; the two agree to the bit
// (src/native-preprocess.spec.ts).
//
//   jpegInfo(bytes: Uint8Array): { width, height, components, colorSpace, orientation, icc, exifSegments } | null
//   decodeResample(bytes, scaleNum, dstWidth, dstHeight, left, top, width, height, filter, luts, out, offset): number
//   libjpegVersion(): string
//
// Both work synchronously on the calling thread (the preprocessing worker threads). Anything unusual — a libjpeg
// error or warning (corrupt, truncated), an unsupported colour space — is answered with null / a non-zero status
// and the caller goes the general (sharp) way, which keeps today's behaviour and error messages for such input.
//
// Built by scripts/build-native.mjs (node-gyp, binding.gyp; links the system libjpeg-turbo).
#include <node_api.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

// The horizontal pass has an AVX2 variant (chosen at run time when the CPU has AVX2) next to the portable one; the
// arithmetic is the same 32-bit integer arithmetic, so both give the same bits. The vertical pass is left to the
// compiler's vectoriser (target_clones builds it for AVX2 and for the baseline).
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_DISPATCH 1
#include <immintrin.h>
#endif
#if defined(HAVE_X86_DISPATCH) && defined(__linux__) && !defined(__clang__)
#define HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define HOT_LOOP
#endif

enum { STATUS_OK = 0, STATUS_FALLBACK = 1 };

// ---------------------------------------------------------------------------------------------------------------
// libjpeg error handling: every error and every warning ends the attempt (the caller falls back).

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf jump;
} error_mgr;

static void on_error_exit(j_common_ptr cinfo) {
  error_mgr* err = (error_mgr*)cinfo->err;
  longjmp(err->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  // a warning: libjpeg would go on with made-up data; the general path decides what such a file means
  error_mgr* err = (error_mgr*)cinfo->err;
  longjmp(err->jump, 1);
}

static void init_errors(struct jpeg_decompress_struct* cinfo, error_mgr* err) {
  cinfo->err = jpeg_std_error(&err->base);
  err->base.error_exit = on_error_exit;
  err->base.emit_message = on_emit_message;
}

// ---------------------------------------------------------------------------------------------------------------
// Pillow's resampling coefficients (Resample.c precompute_coeffs + normalize_coeffs_8bpc), in the same double
// arithmetic and order as src/resample.ts. Compiled with -ffp-contract=off: a fused multiply-add would round
// differently.

#define PRECISION_BITS (32 - 8 - 2)
#define HALF (1 << (PRECISION_BITS - 1))

enum { FILTER_BICUBIC = 0, FILTER_BILINEAR = 1 };

static double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

typedef struct {
  int ksize;
  int* start;
  int* count;
  int32_t* weights;
  // every weight four times (one per RGBX lane), `lane_stride` (ksize rounded up to even) weights per output
  // sample, zeros past `count`: the vectorised horizontal pass; NULL when not used
  int32_t* lanes;
  int lane_stride;
} coeffs;

static void free_coeffs(coeffs* c) {
  free(c->start);
  free(c->count);
  free(c->weights);
  free(c->lanes);
  c->start = c->count = NULL;
  c->weights = c->lanes = NULL;
}

static int expand_lanes(coeffs* c, int out_size) {
  c->lane_stride = (c->ksize + 1) & ~1;
  c->lanes = (int32_t*)calloc((size_t)out_size * (size_t)c->lane_stride * 4, sizeof(int32_t));
  if (!c->lanes) return 0;
  for (int o = 0; o < out_size; o++) {
    for (int x = 0; x < c->count[o]; x++) {
      int32_t* l = c->lanes + ((size_t)o * c->lane_stride + x) * 4;
      l[0] = l[1] = l[2] = l[3] = c->weights[(size_t)o * c->ksize + x];
    }
  }
  return 1;
}

static int precompute(int in_size, int out_size, int filter, coeffs* c) {
  double (*weight)(double) = filter == FILTER_BILINEAR ? bilinear_filter : bicubic_filter;
  double filter_support = filter == FILTER_BILINEAR ? 1.0 : 2.0;
  double scale = (double)in_size / out_size;
  double filter_scale = scale < 1.0 ? 1.0 : scale;
  double support = filter_support * filter_scale;
  int ksize = (int)ceil(support) * 2 + 1;
  c->ksize = ksize;
  c->start = (int*)malloc(sizeof(int) * (size_t)out_size);
  c->count = (int*)malloc(sizeof(int) * (size_t)out_size);
  c->weights = (int32_t*)calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
  double* k = (double*)malloc(sizeof(double) * (size_t)ksize);
  if (!c->start || !c->count || !c->weights || !k) {
    free(k);
    free_coeffs(c);
    return 0;
  }
  double ss = 1.0 / filter_scale;
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      double w = weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++) {
      double w = ww != 0.0 ? k[x] / ww : k[x];
      c->weights[(size_t)xx * ksize + x] = (int32_t)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    c->start[xx] = xmin;
    c->count[xx] = xmax;
  }
  free(k);
  return 1;
}

static inline uint8_t clip8(int32_t ss) {
  int32_t v = ss >> PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One source row (RGBX, 4 bytes a pixel as libjpeg-turbo writes JCS_EXT_RGBX) to the window's columns of the
// horizontally resampled row (RGB).
static void horizontal_row_portable(const uint8_t* restrict src, uint8_t* restrict dst, int width, int left, const coeffs* h) {
  const int ksize = h->ksize;
  for (int xx = 0; xx < width; xx++) {
    const int ox = xx + left;
    const int n = h->count[ox];
    const int32_t* restrict w = h->weights + (size_t)ox * ksize;
    const uint8_t* restrict p = src + (size_t)h->start[ox] * 4;
    int32_t s0 = HALF, s1 = HALF, s2 = HALF;
    for (int x = 0; x < n; x++) {
      const int32_t wx = w[x];
      s0 += p[x * 4] * wx;
      s1 += p[x * 4 + 1] * wx;
      s2 += p[x * 4 + 2] * wx;
    }
    dst[xx * 3] = clip8(s0);
    dst[xx * 3 + 1] = clip8(s1);
    dst[xx * 3 + 2] = clip8(s2);
  }
}

#ifdef HAVE_X86_DISPATCH
// The vectorised pass reads whole steps of two taps: one pixel past a window at most (its weight is zero, so the
// sum is unchanged); source rows are allocated with slack for it.
#define ROW_SLACK 64

// Packs four int32 sums (+ HALF already in) to the pixel: >> 22, then the clamp to 0..255 by saturating packs,
// which is clip8.
static inline __attribute__((target("avx2"))) void store_pixel(__m128i sum, uint8_t* dst) {
  __m128i v = _mm_srai_epi32(sum, PRECISION_BITS);
  v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
  uint32_t rgbx = (uint32_t)_mm_cvtsi128_si32(v);
  dst[0] = (uint8_t)rgbx;
  dst[1] = (uint8_t)(rgbx >> 8);
  dst[2] = (uint8_t)(rgbx >> 16);
}

// Two taps per step: 8 bytes (two RGBX pixels) widened to eight int32 lanes, times the two weights, each in four
// lanes; the halves are summed at the end. The padding lane is computed and dropped.
__attribute__((target("avx2"))) static void horizontal_row_avx2(const uint8_t* restrict src, uint8_t* restrict dst, int width, int left,
                                                               const coeffs* h) {
  const __m128i half = _mm_set1_epi32(HALF);
  for (int xx = 0; xx < width; xx++) {
    const int ox = xx + left;
    const int n = h->count[ox];
    const int32_t* w = h->lanes + (size_t)ox * h->lane_stride * 4;
    const uint8_t* p = src + (size_t)h->start[ox] * 4;
    __m256i acc = _mm256_setzero_si256();
    for (int x = 0; x < n; x += 2) {
      __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(p + x * 4)));
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_loadu_si256((const __m256i*)(w + x * 4))));
    }
    store_pixel(_mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)), half), dst + xx * 3);
  }
}

// 1: AVX2, 0: the portable code. Probed once at load (module init); SELECT_VISION_SIMD=0 forces the portable code
// (the tests compare the two).
static int simd_level(void) {
  static int level = -1;
  if (level < 0) {
    const char* cap = getenv("SELECT_VISION_SIMD");
    __builtin_cpu_init();
    level = __builtin_cpu_supports("avx2") && !(cap != NULL && cap[0] == '0') ? 1 : 0;
  }
  return level;
}
#else
#define ROW_SLACK 0
#endif

static void horizontal_row(const uint8_t* src, uint8_t* dst, int width, int left, const coeffs* h) {
#ifdef HAVE_X86_DISPATCH
  if (h->lanes != NULL) {
    horizontal_row_avx2(src, dst, width, left, h);
    return;
  }
#endif
  horizontal_row_portable(src, dst, width, left, h);
}

// The window's columns of a row when no horizontal resampling is needed.
static void copy_row(const uint8_t* restrict src, uint8_t* restrict dst, int width, int left) {
  for (int xx = 0; xx < width; xx++) {
    const uint8_t* p = src + (size_t)(xx + left) * 4;
    dst[xx * 3] = p[0];
    dst[xx * 3 + 1] = p[1];
    dst[xx * 3 + 2] = p[2];
  }
}

// acc[i] += row[i] * w over a whole row: the vertical pass, accumulated row by row so memory is read in order.
HOT_LOOP static void accumulate_row(int32_t* restrict acc, const uint8_t* restrict row, int32_t w, int n) {
  for (int i = 0; i < n; i++) acc[i] += row[i] * w;
}

// One output row (interleaved RGB values) through the per-channel lookup tables into the three CHW planes.
static void write_row(const uint8_t* restrict rgb, int width, const float* restrict luts, float* restrict r, float* restrict g,
                      float* restrict b) {
  for (int x = 0; x < width; x++) {
    r[x] = luts[rgb[x * 3]];
    g[x] = luts[256 + rgb[x * 3 + 1]];
    b[x] = luts[512 + rgb[x * 3 + 2]];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// EXIF: the orientation tag of IFD0, as libvips reads it (exif-ifd0-Orientation).

static unsigned read16(const uint8_t* p, int little) { return little ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]); }
static uint32_t read32(const uint8_t* p, int little) {
  return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// 1..65535: the tag's value; 0: no orientation tag; -1: anything this reader is not sure about.
static int exif_orientation(const uint8_t* d, unsigned len) {
  const uint8_t* t = d + 6;  // after "Exif\0\0"
  uint32_t tl = len - 6;
  if (tl < 8) return -1;
  int little;
  if (t[0] == 'I' && t[1] == 'I') little = 1;
  else if (t[0] == 'M' && t[1] == 'M') little = 0;
  else return -1;
  if (read16(t + 2, little) != 42) return -1;
  uint32_t ifd = read32(t + 4, little);
  if (ifd < 8 || ifd > tl - 2) return -1;
  unsigned entries = read16(t + ifd, little);
  if ((uint64_t)ifd + 2 + (uint64_t)entries * 12 > tl) return -1;
  int found = 0;
  for (unsigned i = 0; i < entries; i++) {
    const uint8_t* e = t + ifd + 2 + i * 12;
    if (read16(e, little) != 0x0112) continue;
    if (found != 0) return -1;  // twice
    if (read16(e + 2, little) != 3 || read32(e + 4, little) != 1) return -1;  // not one SHORT
    found = (int)read16(e + 8, little);
    if (found == 0) return -1;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// N-API helpers

static int get_bytes(napi_env env, napi_value value, const uint8_t** data, size_t* length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void* ptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, &ptr, &buffer, &offset) != napi_ok || type != napi_uint8_array) return 0;
  *data = (const uint8_t*)ptr;
  return 1;
}

static int get_floats(napi_env env, napi_value value, float** data, size_t* length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void* ptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, &ptr, &buffer, &offset) != napi_ok || type != napi_float32_array) return 0;
  *data = (float*)ptr;
  return 1;
}

static void set_int(napi_env env, napi_value obj, const char* name, int64_t v) {
  napi_value value;
  napi_create_int64(env, v, &value);
  napi_set_named_property(env, obj, name, value);
}

static napi_value make_int(napi_env env, int v) {
  napi_value value;
  napi_create_int32(env, v, &value);
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// jpegInfo: the header facts the caller decides on (null when libjpeg cannot read the header cleanly).

static napi_value jpeg_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t* bytes;
  size_t length;
  if (argc < 1 || !get_bytes(env, argv[0], &bytes, &length)) {
    napi_throw_type_error(env, NULL, "jpegInfo(bytes: Uint8Array)");
    return NULL;
  }
  napi_value result;
  napi_get_null(env, &result);
  if (length == 0) return result;

  struct jpeg_decompress_struct cinfo;
  error_mgr err;
  memset(&cinfo, 0, sizeof cinfo);
  init_errors(&cinfo, &err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return result;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
    jpeg_destroy_decompress(&cinfo);
    return result;
  }
  int orientation = 0, exif_segments = 0, icc = 0;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != NULL; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
      exif_segments++;
      orientation = exif_orientation(m->data, m->data_length);
    } else if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && memcmp(m->data, "ICC_PROFILE\0", 12) == 0) {
      icc = 1;
    }
  }
  napi_create_object(env, &result);
  set_int(env, result, "width", cinfo.image_width);
  set_int(env, result, "height", cinfo.image_height);
  set_int(env, result, "components", cinfo.num_components);
  set_int(env, result, "colorSpace", cinfo.jpeg_color_space);
  set_int(env, result, "precision", cinfo.data_precision);
  set_int(env, result, "orientation", orientation);
  set_int(env, result, "exifSegments", exif_segments);
  napi_value icc_value;
  napi_get_boolean(env, icc != 0, &icc_value);
  napi_set_named_property(env, result, "icc", icc_value);
  jpeg_destroy_decompress(&cinfo);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// decodeResample: decode (at scaleNum/8 of the stored size), resample to dstWidth x dstHeight, keep the window
// (left, top, width, height), normalise through luts (3 x 256 floats) into out at offset (3 planes of
// width x height). Returns 0, or 1 when the caller must take the general path.

typedef struct {
  struct jpeg_decompress_struct cinfo;
  error_mgr err;
  coeffs h, v;
  uint8_t* lines;
  uint8_t* tmp;
  uint8_t* row;
  int32_t* acc;
} decode_state;

static void release(decode_state* s) {
  jpeg_destroy_decompress(&s->cinfo);
  free_coeffs(&s->h);
  free_coeffs(&s->v);
  free(s->lines);
  free(s->tmp);
  free(s->row);
  free(s->acc);
}

#define LINES 16

// Everything it allocates hangs off `s`, so a longjmp out of libjpeg leaves nothing for the caller but release(s).
static int run_decode(decode_state* s, const uint8_t* bytes, size_t length, int scale_num, int dst_w, int dst_h, int left,
                      int top, int width, int height, int filter, const float* luts, float* out) {
  struct jpeg_decompress_struct* cinfo = &s->cinfo;
  init_errors(cinfo, &s->err);
  if (setjmp(s->err.jump)) return STATUS_FALLBACK;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, bytes, (unsigned long)length);
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) return STATUS_FALLBACK;
  if (cinfo->jpeg_color_space != JCS_YCbCr && cinfo->jpeg_color_space != JCS_GRAYSCALE && cinfo->jpeg_color_space != JCS_RGB) {
    return STATUS_FALLBACK;
  }
  cinfo->out_color_space = JCS_EXT_RGBX;
  cinfo->dct_method = JDCT_ISLOW;
  cinfo->do_fancy_upsampling = TRUE;
  cinfo->scale_num = (unsigned)scale_num;
  cinfo->scale_denom = 8;
  jpeg_start_decompress(cinfo);
  const int src_w = (int)cinfo->output_width;
  const int src_h = (int)cinfo->output_height;
  if (cinfo->output_components != 4) return STATUS_FALLBACK;

  const int need_h = dst_w != src_w;
  const int need_v = dst_h != src_h;
  if (!need_h && left + width > src_w) return STATUS_FALLBACK;
  if (!need_v && top + height > src_h) return STATUS_FALLBACK;
  if (need_h && !precompute(src_w, dst_w, filter, &s->h)) return STATUS_FALLBACK;
#ifdef HAVE_X86_DISPATCH
  if (need_h && simd_level() > 0 && !expand_lanes(&s->h, dst_w)) return STATUS_FALLBACK;
#endif
  if (need_v && !precompute(src_h, dst_h, filter, &s->v)) return STATUS_FALLBACK;

  // source rows the vertical pass reads for the window's rows
  int row_first = top, row_end = top + height;
  if (need_v) {
    row_first = s->v.start[top];
    row_end = 0;
    for (int y = top; y < top + height; y++) {
      int e = s->v.start[y] + s->v.count[y];
      if (e > row_end) row_end = e;
    }
  }
  const int rows = row_end - row_first;
  const size_t stride = (size_t)width * 3;
  s->lines = (uint8_t*)malloc((size_t)src_w * 4 * LINES + ROW_SLACK);
  s->tmp = (uint8_t*)malloc((size_t)rows * stride);
  if (!s->lines || !s->tmp) return STATUS_FALLBACK;

  // Rows above the first one needed are skipped (entropy-decoded only: corrupt data still warns);
  // the rows needed go through the horizontal pass as they are decoded.
  if (row_first > 0) jpeg_skip_scanlines(cinfo, (JDIMENSION)row_first);
  JSAMPROW pointers[LINES];
  while ((int)cinfo->output_scanline < row_end) {
    int first = (int)cinfo->output_scanline;
    int count = row_end - first;
    if (count > LINES) count = LINES;
    for (int i = 0; i < count; i++) pointers[i] = s->lines + (size_t)i * src_w * 4;
    int got = (int)jpeg_read_scanlines(cinfo, pointers, (JDIMENSION)count);
    if (got <= 0) return STATUS_FALLBACK;
    for (int i = 0; i < got; i++) {
      uint8_t* dst = s->tmp + (size_t)(first + i - row_first) * stride;
      if (need_h) horizontal_row(pointers[i], dst, width, left, &s->h);
      else copy_row(pointers[i], dst, width, left);
    }
  }
  // The rest of the file is still read to its end, as a full decode would: a truncated or corrupt tail warns
  // and the caller falls back. Skipping to the very last row would end without reading, so the last row is read.
  int remaining = src_h - (int)cinfo->output_scanline;
  if (remaining > 1) jpeg_skip_scanlines(cinfo, (JDIMENSION)(remaining - 1));
  while (cinfo->output_scanline < cinfo->output_height) {
    pointers[0] = s->lines;
    if (jpeg_read_scanlines(cinfo, pointers, 1) != 1) return STATUS_FALLBACK;
  }
  jpeg_finish_decompress(cinfo);

  const size_t plane = (size_t)width * height;
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  if (!need_v) {
    for (int yy = 0; yy < height; yy++) write_row(s->tmp + (size_t)yy * stride, width, luts, r + (size_t)yy * width, g + (size_t)yy * width, b + (size_t)yy * width);
    return STATUS_OK;
  }
  s->acc = (int32_t*)malloc(sizeof(int32_t) * stride);
  s->row = (uint8_t*)malloc(stride);
  if (!s->acc || !s->row) return STATUS_FALLBACK;
  const int ksize = s->v.ksize;
  for (int yy = 0; yy < height; yy++) {
    const int oy = yy + top;
    const int ymin = s->v.start[oy] - row_first;
    const int n = s->v.count[oy];
    const int32_t* w = s->v.weights + (size_t)oy * ksize;
    for (size_t i = 0; i < stride; i++) s->acc[i] = HALF;
    for (int y = 0; y < n; y++) accumulate_row(s->acc, s->tmp + (size_t)(ymin + y) * stride, w[y], (int)stride);
    for (size_t i = 0; i < stride; i++) s->row[i] = clip8(s->acc[i]);
    write_row(s->row, width, luts, r + (size_t)yy * width, g + (size_t)yy * width, b + (size_t)yy * width);
  }
  return STATUS_OK;
}

static napi_value decode_resample(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t* bytes;
  size_t length, lut_length, out_length;
  float *luts, *out;
  int32_t a[9];
  int ok = argc == 12 && get_bytes(env, argv[0], &bytes, &length) && get_floats(env, argv[9], &luts, &lut_length) &&
           get_floats(env, argv[10], &out, &out_length);
  for (int i = 0; ok && i < 8; i++) ok = napi_get_value_int32(env, argv[1 + i], &a[i]) == napi_ok;
  if (ok) ok = napi_get_value_int32(env, argv[11], &a[8]) == napi_ok;
  const int scale_num = a[0], dst_w = a[1], dst_h = a[2], left = a[3], top = a[4], width = a[5], height = a[6], filter = a[7], offset = a[8];
  if (!ok || scale_num < 1 || scale_num > 16 || dst_w < 1 || dst_h < 1 || width < 1 || height < 1 || left < 0 || top < 0 ||
      left + width > dst_w || top + height > dst_h || (filter != FILTER_BICUBIC && filter != FILTER_BILINEAR) || lut_length < 768 ||
      offset < 0 || (size_t)offset + (size_t)3 * width * height > out_length) {
    napi_throw_type_error(env, NULL,
                          "decodeResample(bytes: Uint8Array, scaleNum 1..16, dstWidth, dstHeight, left, top, width, height, filter 0|1, "
                          "luts: Float32Array(768), out: Float32Array, offset) with the window inside the resized image and "
                          "room in out");
    return NULL;
  }
  if (length == 0) return make_int(env, STATUS_FALLBACK);
  decode_state* s = (decode_state*)calloc(1, sizeof(decode_state));
  if (s == NULL) return make_int(env, STATUS_FALLBACK);
  int status = run_decode(s, bytes, length, scale_num, dst_w, dst_h, left, top, width, height, filter, luts, out + offset);
  release(s);
  free(s);
  return make_int(env, status);
}

static napi_value libjpeg_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value version;
#ifdef LIBJPEG_TURBO_VERSION
#define SELECT_STR2(x) #x
#define SELECT_STR(x) SELECT_STR2(x)
  napi_create_string_utf8(env, "libjpeg-turbo " SELECT_STR(LIBJPEG_TURBO_VERSION), NAPI_AUTO_LENGTH, &version);
#else
  napi_create_string_utf8(env, "libjpeg", NAPI_AUTO_LENGTH, &version);
#endif
  return version;
}

static napi_value init(napi_env env, napi_value exports) {
#ifdef HAVE_X86_DISPATCH
  (void)simd_level();  // probe the CPU once, before any worker thread asks
#endif
  napi_property_descriptor properties[] = {
      {"jpegInfo", NULL, jpeg_info, NULL, NULL, NULL, napi_default, NULL},
      {"decodeResample", NULL, decode_resample, NULL, NULL, NULL, napi_default, NULL},
      {"libjpegVersion", NULL, libjpeg_version, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
