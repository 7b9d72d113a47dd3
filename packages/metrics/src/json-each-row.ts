// Rows for INSERT ... FORMAT JSONEachRow, the input format that ClickHouse 18.16 and current versions both
// read. JSON has no NaN, Infinity, bigint or Date, so those are converted into forms ClickHouse parses:
// non-finite floats as the strings "nan"/"inf"/"-inf", bigints as decimal strings, dates as unix seconds.
import { InvalidRowError } from './errors.js';
import { RowBinaryBytes } from './row-binary.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function jsonValue(value: unknown, column: string): unknown {
  switch (typeof value) {
    case 'number':
      if (Number.isFinite(value)) return value;
      return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 1 : 0;
    case 'string':
      if (LONE_SURROGATE.test(value)) {
        throw new InvalidRowError(`column ${column}: string holds a lone UTF-16 surrogate and cannot be encoded as UTF-8`);
      }
      return value;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) {
        const ms = value.getTime();
        if (!Number.isFinite(ms) || ms < 0 || ms / 1000 > 0xffffffff) {
          throw new InvalidRowError(`column ${column}: date is invalid or outside the DateTime range (1970 .. 2106)`);
        }
        return Math.floor(ms / 1000);
      }
      if (Array.isArray(value)) return value.map((item: unknown) => jsonValue(item, column));
      if (value instanceof RowBinaryBytes) {
        throw new InvalidRowError(`column ${column}: RowBinaryBytes need a RowBinary insert (the table's column types have no RowBinary writer here)`);
      }
      throw new InvalidRowError(
        `column ${column}: objects have no column type here; JSON.stringify them into a String column`,
      );
    }
    default:
      throw new InvalidRowError(`column ${column}: a ${typeof value} cannot be inserted`);
  }
}

const templates = new WeakMap<readonly string[], Record<string, unknown>>();

/** An object with every column (null), built by JSON.parse, which gives it fast properties; one per column list. */
function templateFor(columns: readonly string[]): Record<string, unknown> {
  let template = templates.get(columns);
  if (template === undefined) {
    template = JSON.parse(JSON.stringify(Object.fromEntries(columns.map((column) => [column, null])))) as Record<string, unknown>;
    templates.set(columns, template);
  }
  return template;
}

/**
 * Copies the named columns of a row into a JSON-safe object. Throws InvalidRowError when a column is missing
 * (undefined) — ClickHouse would silently insert the column default — or holds an unsupported value.
 */
export function toJsonEachRow(row: object, columns: readonly string[]): Record<string, unknown> {
  const source = row as Record<string, unknown>;
  // A copy of a template that already has every column: the stores below only overwrite, so the object keeps
  // V8's fast properties. Adding ~20 properties one keyed store at a time turns it into a dictionary, which
  // costs several µs per row here and again in JSON.stringify (measured in tools/bench/events).
  const out: Record<string, unknown> = { ...templateFor(columns) };
  for (const column of columns) {
    const value = source[column];
    if (value === undefined) throw new InvalidRowError(`row has no value for column ${column}`);
    out[column] = jsonValue(value, column);
  }
  return out;
}
