// A JPEG decoder for @select/datasets: libjpeg-turbo (the library Pillow decodes with) called directly
// through N-API, on libuv's thread pool. Full decode to interleaved 8-bit RGB with libjpeg's defaults
// (accurate integer IDCT, fancy upsampling), which is what Pillow's JpegDecoder asks for too, so the
// pixels equal `np.asarray(Image.open(f).convert('RGB'))`. No ICC transform, no EXIF rotation: Pillow
// does neither.
//
//   decodeJpeg(bytes: Buffer, failOnWarning: boolean, maxPixels: number): Promise<{ data, width, height } | null>
//
// Resolves null for JPEGs this decoder leaves to sharp (CMYK / YCCK, whose conversion to RGB is a matter
// of policy); rejects with libjpeg's message for bytes that do not decode (and, when failOnWarning, for
// any libjpeg warning, e.g. "Premature end of JPEG file" on a truncated image).
//
// Built by scripts/build-native.mjs (node-gyp, binding.gyp; links the system libjpeg-turbo).
#include <node_api.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  int fail_on_warning;
  int warned;
  char message[JMSG_LENGTH_MAX];
} error_mgr;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  const unsigned char* input;
  size_t input_length;
  int fail_on_warning;
  double max_pixels;
  // results
  int status;  // 0 decoded, 1 error (message), 2 left to sharp
  char message[JMSG_LENGTH_MAX + 64];
  unsigned char* pixels;
  unsigned int width;
  unsigned int height;
} decode_job;

static void on_error_exit(j_common_ptr cinfo) {
  error_mgr* err = (error_mgr*)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
  error_mgr* err = (error_mgr*)cinfo->err;
  if (level >= 0) return;  // trace messages
  // A warning (corrupt data, premature end of file): libjpeg would go on with made-up data.
  if (!err->warned) (*cinfo->err->format_message)(cinfo, err->message);
  err->warned = 1;
  cinfo->err->num_warnings++;
  if (err->fail_on_warning) longjmp(err->jump, 1);
}

static void execute(napi_env env, void* data) {
  (void)env;
  decode_job* job = (decode_job*)data;
  struct jpeg_decompress_struct cinfo;
  error_mgr err;
  unsigned char* volatile pixels = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = on_error_exit;
  err.base.emit_message = on_emit_message;
  err.fail_on_warning = job->fail_on_warning;
  err.warned = 0;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    job->status = 1;
    snprintf(job->message, sizeof job->message, "libjpeg: %s", err.message);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, job->input, (unsigned long)job->input_length);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    job->status = 2;
    return;
  }
  if ((double)cinfo.image_width * (double)cinfo.image_height > job->max_pixels) {
    job->status = 1;
    snprintf(job->message, sizeof job->message, "image of %ux%u pixels exceeds the limit of %.0f pixels", cinfo.image_width,
             cinfo.image_height, job->max_pixels);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  size_t stride = (size_t)cinfo.output_width * 3;
  pixels = (unsigned char*)malloc(stride * cinfo.output_height);
  if (pixels == NULL) {
    jpeg_destroy_decompress(&cinfo);
    job->status = 1;
    snprintf(job->message, sizeof job->message, "out of memory for %ux%u pixels", cinfo.output_width, cinfo.output_height);
    return;
  }
  JSAMPROW rows[16];
  while (cinfo.output_scanline < cinfo.output_height) {
    unsigned int count = cinfo.output_height - cinfo.output_scanline;
    if (count > 16) count = 16;
    for (unsigned int i = 0; i < count; i++) rows[i] = pixels + (size_t)(cinfo.output_scanline + i) * stride;
    jpeg_read_scanlines(&cinfo, rows, count);
  }
  jpeg_finish_decompress(&cinfo);
  job->width = cinfo.output_width;
  job->height = cinfo.output_height;
  jpeg_destroy_decompress(&cinfo);
  job->pixels = pixels;
  job->status = 0;
}

static void free_pixels(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void complete(napi_env env, napi_status status, void* data) {
  decode_job* job = (decode_job*)data;
  napi_value result;
  if (status != napi_ok) {
    free(job->pixels);
    job->status = 1;
    snprintf(job->message, sizeof job->message, "decode was cancelled");
  }
  if (job->status == 0) {
    napi_value buffer, width, height;
    napi_create_external_buffer(env, (size_t)job->width * job->height * 3, job->pixels, free_pixels, NULL, &buffer);
    napi_create_uint32(env, job->width, &width);
    napi_create_uint32(env, job->height, &height);
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "data", buffer);
    napi_set_named_property(env, result, "width", width);
    napi_set_named_property(env, result, "height", height);
    napi_resolve_deferred(env, job->deferred, result);
  } else if (job->status == 2) {
    napi_get_null(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value message;
    napi_create_string_utf8(env, job->message, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &result);
    napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->input_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value decode_jpeg(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  if (argc < 3 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "decodeJpeg(bytes: Buffer, failOnWarning: boolean, maxPixels: number)");
    return NULL;
  }
  decode_job* job = (decode_job*)calloc(1, sizeof(decode_job));
  if (job == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  void* bytes;
  bool fail_on_warning;
  napi_get_buffer_info(env, argv[0], &bytes, &job->input_length);
  job->input = (const unsigned char*)bytes;
  napi_get_value_bool(env, argv[1], &fail_on_warning);
  job->fail_on_warning = fail_on_warning ? 1 : 0;
  napi_get_value_double(env, argv[2], &job->max_pixels);
  // The input stays referenced (and so in place) until the decode completes.
  napi_create_reference(env, argv[0], 1, &job->input_ref);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "select:decodeJpeg", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
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
  napi_property_descriptor properties[] = {
      {"decodeJpeg", NULL, decode_jpeg, NULL, NULL, NULL, napi_default, NULL},
      {"libjpegVersion", NULL, libjpeg_version, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
