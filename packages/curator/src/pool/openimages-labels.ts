import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { ServiceError } from '@select/platform';

/** Splits one CSV line (RFC 4180 quotes; OpenImages' label files have none, its descriptions do). */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}

interface LabelRow {
  imageId: string;
  line: string;
}

async function* labelRows(file: string, signal: AbortSignal): AsyncGenerator<LabelRow> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let columns: { imageId: number; source: number; mid: number; confidence: number } | undefined;
  const fallbackSource = basename(file).replace(/\.csv$/, '');
  try {
    for await (const raw of lines) {
      signal.throwIfAborted();
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') continue;
      const fields = splitCsvLine(line).map((f) => f.trim());
      if (columns === undefined) {
        columns = { imageId: fields.indexOf('ImageID'), source: fields.indexOf('Source'), mid: fields.indexOf('LabelName'), confidence: fields.indexOf('Confidence') };
        const missing = (['ImageID', 'LabelName', 'Confidence'] as const).filter((name) => !fields.includes(name));
        if (missing.length > 0) throw ServiceError.invalidArgument(`label file ${file} lacks column(s) ${missing.join(', ')}; its header is ${line.slice(0, 200)}`);
        continue;
      }
      const imageId = fields[columns.imageId] ?? '';
      const source = columns.source === -1 ? fallbackSource : (fields[columns.source] ?? '');
      // Rewritten in one column order; a malformed row stays malformed (the reader reports it per image).
      yield { imageId, line: [imageId, source, fields[columns.mid] ?? '', fields[columns.confidence] ?? ''].map(quoteIfNeeded).join(',') };
    }
  } finally {
    lines.close();
  }
}

function quoteIfNeeded(field: string): string {
  return /[",\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

/**
 * Merges OpenImages image-level label files (human-verified, machine-generated, ...; each sorted by
 * ImageID as OpenImages ships them) into one file sorted by ImageID with the columns
 * ImageID,Source,LabelName,Confidence, so one reader sees all of an image's labels together. Returns
 * the byte offset of each image's first row (the task planner's cursors) and the file's size.
 * An existing merged file (a resumed build) is scanned instead of rewritten.
 */
export async function mergeLabelFiles(files: readonly string[], out: string, signal: AbortSignal): Promise<{ starts: number[]; end: number }> {
  const exists = await stat(out).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const tmp = `${out}.${process.pid}.tmp`;
    const sink = createWriteStream(tmp);
    const write = async (text: string): Promise<void> => {
      if (!sink.write(text)) await once(sink, 'drain');
    };
    await write('ImageID,Source,LabelName,Confidence\n');
    const iterators = files.map((file) => labelRows(file, signal)[Symbol.asyncIterator]());
    const heads = await Promise.all(iterators.map(async (it) => (await it.next()).value as LabelRow | undefined));
    for (;;) {
      let pick = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head !== undefined && (pick === -1 || head.imageId < heads[pick]!.imageId)) pick = i;
      }
      if (pick === -1) break;
      await write(`${heads[pick]!.line}\n`);
      heads[pick] = (await iterators[pick]!.next()).value as LabelRow | undefined;
    }
    sink.end();
    await once(sink, 'finish');
    await rename(tmp, out);
  }
  const starts: number[] = [];
  let offset = 0;
  let previous: string | undefined;
  let header = true;
  const lines = createInterface({ input: createReadStream(out), crlfDelay: Infinity });
  for await (const line of lines) {
    const start = offset;
    offset += Buffer.byteLength(line, 'utf8') + 1;
    if (header) {
      header = false;
      continue;
    }
    const imageId = line.slice(0, line.indexOf(','));
    if (imageId !== previous) {
      starts.push(start);
      previous = imageId;
    }
  }
  return { starts, end: offset };
}
