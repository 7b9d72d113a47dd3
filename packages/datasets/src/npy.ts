import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { DatasetError, describeCause } from './errors.js';
import { floatsToHalfBits, halfBitsToFloats } from './float16.js';

// NumPy's .npy format: "\x93NUMPY", version, header length, a Python dict literal padded with spaces,
// then the raw array. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

export type NpyDtype = 'float16' | 'float32';

export interface NpyHeader {
  readonly dtype: NpyDtype;
  /** Rows then values per row; a 1-D array reads as one value per row. */
  readonly shape: readonly number[];
  /** Byte offset of the first value. */
  readonly dataOffset: number;
}

const MAGIC = Buffer.from('\x93NUMPY', 'latin1');
const DESCR: Record<string, NpyDtype> = { '<f2': 'float16', '<f4': 'float32' };
const ITEM_BYTES: Record<NpyDtype, number> = { float16: 2, float32: 4 };
const DTYPE_DESCR: Record<NpyDtype, string> = { float16: '<f2', float32: '<f4' };

function assertLittleEndianHost(): void {
  // Typed arrays use host byte order; every platform Node ships on is little-endian, but say so if not.
  if (endianness() !== 'LE') throw new DatasetError('NPY_FORMAT', 'npy reading needs a little-endian host');
}

/** Where the data starts, from the first 12 bytes of the file. */
function npyDataOffset(preamble: Buffer, file: string): number {
  if (preamble.length < 10 || !preamble.subarray(0, 6).equals(MAGIC)) {
    throw new DatasetError('NPY_FORMAT', 'not an .npy file (no \\x93NUMPY magic)', { file });
  }
  const major = preamble[6] ?? 0;
  if (major < 1 || major > 3) throw new DatasetError('NPY_FORMAT', `unsupported .npy version ${major}`, { file });
  if (major === 1) return 10 + preamble.readUInt16LE(8);
  if (preamble.length < 12) throw new DatasetError('NPY_FORMAT', '.npy header is cut short', { file });
  return 12 + preamble.readUInt32LE(8);
}

/** Parses the header of an .npy file from its first bytes (at least up to where the data starts). */
export function parseNpyHeader(head: Buffer, file: string): NpyHeader {
  const dataOffset = npyDataOffset(head, file);
  if (head.length < dataOffset) throw new DatasetError('NPY_FORMAT', '.npy header is cut short', { file });
  const major = head[6] ?? 0;
  const lengthBytes = major === 1 ? 2 : 4;
  const dict = head.toString(major === 3 ? 'utf8' : 'latin1', 8 + lengthBytes, dataOffset);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new DatasetError('NPY_FORMAT', `unreadable .npy header ${JSON.stringify(dict.trim())}`, { file });
  }
  const dtype = DESCR[descr];
  if (dtype === undefined) {
    throw new DatasetError('NPY_FORMAT', `dtype ${descr} is not supported (little-endian float16 '<f2' or float32 '<f4' only)`, { file });
  }
  if (fortran === 'True') throw new DatasetError('NPY_FORMAT', 'Fortran-ordered arrays are not supported; save C-ordered', { file });
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(Number);
  if (shape.length === 0 || shape.length > 2 || shape.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new DatasetError('NPY_FORMAT', `shape (${shapeText}) is not a 1-D or 2-D array shape`, { file });
  }
  return { dtype, shape, dataOffset };
}

/**
 * Row access to a 2-D float16/float32 .npy file through positioned reads: memory is one batch of rows,
 * whatever the file size. Values come back as float32.
 */
export class NpyReader {
  readonly rows: number;
  readonly dim: number;
  private readonly itemBytes: number;

  private constructor(
    readonly file: string,
    readonly header: NpyHeader,
    private readonly handle: FileHandle,
  ) {
    this.rows = header.shape[0] ?? 0;
    this.dim = header.shape[1] ?? 1;
    this.itemBytes = ITEM_BYTES[header.dtype];
  }

  /** Opens and validates the file (header, dtype, order, and that the data is all there). */
  static async open(file: string): Promise<NpyReader> {
    assertLittleEndianHost();
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (cause) {
      throw new DatasetError('FILE_UNREADABLE', `cannot open .npy: ${describeCause(cause)}`, { file, cause });
    }
    try {
      const preamble = Buffer.alloc(12);
      const { bytesRead } = await handle.read(preamble, 0, preamble.length, 0);
      const head = Buffer.alloc(npyDataOffset(preamble.subarray(0, bytesRead), file));
      await handle.read(head, 0, head.length, 0);
      const header = parseNpyHeader(head, file);
      const reader = new NpyReader(file, header, handle);
      const expected = header.dataOffset + reader.rows * reader.dim * reader.itemBytes;
      const { size } = await handle.stat();
      if (size < expected) {
        throw new DatasetError('NPY_FORMAT', `file has ${size} bytes but shape (${header.shape.join(', ')}) needs ${expected}; truncated`, { file });
      }
      return reader;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get dtype(): NpyDtype {
    return this.header.dtype;
  }

  /** Rows [start, start + count) as float32, row-major. */
  async readRows(start: number, count: number): Promise<Float32Array> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > this.rows) {
      throw new DatasetError('INVALID_OPTION', `rows [${start}, ${start + count}) are outside 0..${this.rows}`, { file: this.file });
    }
    const values = count * this.dim;
    const bytes = new Uint8Array(new ArrayBuffer(values * this.itemBytes));
    let filled = 0;
    const position = this.header.dataOffset + start * this.dim * this.itemBytes;
    while (filled < bytes.length) {
      const { bytesRead } = await this.handle.read(bytes, filled, bytes.length - filled, position + filled);
      if (bytesRead === 0) throw new DatasetError('NPY_FORMAT', `file ended at byte ${position + filled}`, { file: this.file });
      filled += bytesRead;
    }
    return this.header.dtype === 'float32' ? new Float32Array(bytes.buffer) : halfBitsToFloats(new Uint16Array(bytes.buffer));
  }

  /** Consecutive batches of up to `batchRows` rows from `startRow`. */
  async *batches(batchRows = 1024, startRow = 0): AsyncGenerator<{ start: number; values: Float32Array }> {
    for (let start = startRow; start < this.rows; start += batchRows) {
      const count = Math.min(batchRows, this.rows - start);
      yield { start, values: await this.readRows(start, count) };
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export interface NpyWriterOptions {
  /** @default 'float32' */
  readonly dtype?: NpyDtype;
  /** Values per row. */
  readonly dim: number;
}

// Room for any row count, so the header written at create() can be rewritten in place at close().
const MAX_ROWS_DIGITS = 16;

function headerFor(dtype: NpyDtype, rows: number, dim: number): Buffer {
  const dict = (rowsText: string): string => `{'descr': '${DTYPE_DESCR[dtype]}', 'fortran_order': False, 'shape': (${rowsText}, ${dim}), }`;
  const reserved = dict('9'.repeat(MAX_ROWS_DIGITS)).length + 1;
  // numpy pads the header so the data starts on a 64-byte boundary.
  const total = Math.ceil((10 + reserved) / 64) * 64;
  const text = dict(String(rows)).padEnd(total - 10 - 1, ' ') + '\n';
  const header = Buffer.alloc(total);
  MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(total - 10, 8);
  header.write(text, 10, 'latin1');
  return header;
}

/**
 * Streams rows into a 2-D .npy file; the header is rewritten with the final row count at close(), so
 * the writer never holds more than the rows passed to one append().
 */
export class NpyWriter {
  private rowCount = 0;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    private readonly dtype: NpyDtype,
    private readonly dim: number,
    private position: number,
  ) {}

  static async create(file: string, options: NpyWriterOptions): Promise<NpyWriter> {
    assertLittleEndianHost();
    const dtype = options.dtype ?? 'float32';
    if (!Number.isSafeInteger(options.dim) || options.dim < 1) {
      throw new DatasetError('INVALID_OPTION', `dim must be a positive integer, got ${options.dim}`, { file });
    }
    const handle = await open(file, 'w');
    const header = headerFor(dtype, 0, options.dim);
    await handle.write(header, 0, header.length, 0);
    return new NpyWriter(file, handle, dtype, options.dim, header.length);
  }

  get rows(): number {
    return this.rowCount;
  }

  /** Appends whole rows given row-major; the length must be a multiple of dim. */
  async append(values: Float32Array): Promise<void> {
    if (values.length % this.dim !== 0) {
      throw new DatasetError('INVALID_OPTION', `${values.length} values are not whole rows of ${this.dim}`, { file: this.file });
    }
    const encoded = this.dtype === 'float32' ? values : floatsToHalfBits(values);
    const bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    await this.handle.write(bytes, 0, bytes.length, this.position);
    this.position += bytes.length;
    this.rowCount += values.length / this.dim;
  }

  async close(): Promise<void> {
    const header = headerFor(this.dtype, this.rowCount, this.dim);
    await this.handle.write(header, 0, header.length, 0);
    await this.handle.close();
  }
}

/** Writes a whole 2-D array, `values` row-major with `dim` values per row. */
export async function writeNpy(file: string, values: Float32Array, options: NpyWriterOptions): Promise<void> {
  const writer = await NpyWriter.create(file, options);
  try {
    await writer.append(values);
  } finally {
    await writer.close();
  }
}
