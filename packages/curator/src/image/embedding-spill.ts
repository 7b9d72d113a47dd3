// A flat file of (id, score, vector) records: embeddings of a whole build kept on disk between the
// passes of a build-wide step, read back as a stream.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { EmbeddingRow } from '@select/curation-filters';

/** Records `u32 id bytes | id | f32 score (NaN: none) | u32 dim | f32 x dim`. */
export class EmbeddingSpill {
  rows = 0;
  unscored = 0;
  private file: Promise<FileHandle> | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly path: string) {}

  async append(row: EmbeddingRow): Promise<void> {
    const id = Buffer.from(row.id, 'utf8');
    const record = Buffer.allocUnsafe(12 + id.length + 4 * row.vector.length);
    let o = record.writeUInt32LE(id.length, 0);
    o += id.copy(record, o);
    o = record.writeFloatLE(row.score ?? Number.NaN, o);
    o = record.writeUInt32LE(row.vector.length, o);
    Buffer.from(row.vector.buffer, row.vector.byteOffset, 4 * row.vector.length).copy(record, o);
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.rows++;
    if (row.score === undefined || Number.isNaN(row.score)) this.unscored++;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await (await this.handle()).close();
  }

  async *read(): AsyncGenerator<EmbeddingRow> {
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(this.path) as AsyncIterable<Buffer>) {
      let buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let o = 0;
      for (;;) {
        if (buf.length - o < 4) break;
        const idLength = buf.readUInt32LE(o);
        if (buf.length - o < 12 + idLength) break;
        const dim = buf.readUInt32LE(o + 8 + idLength);
        const size = 12 + idLength + 4 * dim;
        if (buf.length - o < size) break;
        const id = buf.toString('utf8', o + 4, o + 4 + idLength);
        const score = buf.readFloatLE(o + 4 + idLength);
        const vector = new Float32Array(dim);
        new Uint8Array(vector.buffer).set(buf.subarray(o + 12 + idLength, o + size));
        yield Number.isNaN(score) ? { id, vector } : { id, vector, score };
        o += size;
      }
      carry = buf.subarray(o);
      buf = carry;
    }
  }

  private handle(): Promise<FileHandle> {
    this.file ??= open(this.path, 'w');
    return this.file;
  }

  private async flush(): Promise<void> {
    const handle = await this.handle();
    if (this.pendingBytes === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    await handle.write(data);
  }
}
