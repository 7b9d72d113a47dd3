// Public entry of @select/vision: image decoding with a deliberate policy (sharp), and model preprocessing that
// reproduces Python's Pillow-based pipelines bit for bit (a native libjpeg-turbo path for JPEGs, sharp otherwise).
export { ImageDecodeError, PreprocessPoolError, PreprocessQueueFullError, type ImageErrorReason } from './errors.js';
export { decodeImage, type DecodeOptions, type RgbImage, type SourceImageInfo } from './decode.js';
export { resampleRgb, type Interpolation, type ResampleWindow } from './resample.js';
export { nativeJpegDecoder } from './native-preprocess.js';
export {
  dctScaleFor,
  outputSize,
  planResize,
  preprocessImage,
  resizeAndCrop,
  tensorLength,
  writeTensor,
  type ImagePreprocessing,
  type PreprocessedImage,
  type PreprocessMode,
  type PreprocessOptions,
  type PreprocessPipeline,
} from './preprocess.js';
export { fromHfImageProcessorConfig, fromTimmPretrainedCfg } from './model-configs.js';
export { PreprocessPool, type PreprocessPoolOptions } from './preprocess-pool.js';
