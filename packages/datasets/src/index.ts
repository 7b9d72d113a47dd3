// Public entry of @select/datasets: pool readers (WebDataset, parquet + npy, ImageFolder, OpenImages,
// openclipart) and the crash-safe shift writer.
export { DatasetError, type DatasetErrorCode, type ErrorLocation } from './errors.js';
export { type Cursor, type ErrorRecord, type PoolRecord, type ReadOptions, type SampleRecord } from './pool-record.js';
export { expandShardPattern } from './brace-expansion.js';
export { readWebDataset, resolveShards, type WebDatasetOptions, type WebDatasetSample } from './webdataset-reader.js';
export { readCaptionedShards, type CaptionedSample } from './captioned-shards.js';
export { readClassShards, type ClassSample, type ClassShardsOptions } from './class-shards.js';
export {
  decodeImage,
  decodeImages,
  jpegDecoder,
  sniffImageFormat,
  type DecodedImage,
  type DecodeOptions,
  type EncodedImage,
  type ImageFormat,
  type PoolSampleBase,
} from './image-decode.js';
export { NpyReader, NpyWriter, parseNpyHeader, writeNpy, type NpyDtype, type NpyHeader, type NpyWriterOptions } from './npy.js';
export {
  DEFAULT_PARQUET_COLUMNS,
  readParquetPool,
  type ParquetColumns,
  type ParquetPoolOptions,
  type ParquetSample,
} from './parquet-pool.js';
export { readImageFolder, type ImageFolderOptions, type ImageFolderSample } from './image-folder.js';
export {
  loadClassDescriptions,
  readOpenImagesPool,
  type OpenImagesLabel,
  type OpenImagesOptions,
  type OpenImagesSample,
} from './openimages.js';
export {
  captionOf,
  OPENCLIPART_ROOT,
  parseSvgMetadata,
  isOneFlatColour,
  readOpenClipart,
  renderClipart,
  renderSvg,
  SVG_RENDER_VERSION,
  withViewBox,
  type OpenClipartOptions,
  type OpenClipartSample,
  type SvgMetadata,
} from './openclipart.js';
export { canonicalJson, paramsHash, sampleId, type SampleIdentity } from './sample-id.js';
export { readShiftManifest, SHIFT_FILES, shardName, type ManifestEntry } from './shift-manifest.js';
export {
  ShiftWriter,
  shiftJpegBytes,
  type AddResult,
  type ClassCount,
  type RawImage,
  type ShiftSample,
  type ShiftSummary,
  type ShiftWriterOptions,
} from './shift-writer.js';
