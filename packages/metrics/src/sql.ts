// The one place where values become SQL text. ClickHouse 18.16 has no server-side query parameters, so
// every value that reaches a statement is escaped here; statements are SqlFragments, and the only ways to
// make one are the `sql` tag (which escapes every interpolation by type) and the explicit trusted
// wrappers `sql.raw()` and `sql.id()`.
import { SqlValueError } from './errors.js';

/** A piece of SQL text that is safe to send as is: built by `sql`, `sql.raw`, `sql.id`, `sql.join` or `sql.tuple`. */
export class SqlFragment {
  /** @internal use the `sql` tag or `sql.raw()`; the constructor does not check anything. */
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Values the `sql` tag and `sqlValue()` accept. Arrays become ClickHouse array literals `[...]`. */
export type SqlValue = string | number | bigint | boolean | Date | null | SqlFragment | readonly SqlValue[];

const NAMED_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

// Backslash, quote, and every C0 control byte plus DEL. Escaping the controls is not needed for
// correctness inside quotes, but it keeps statements printable in logs and system.query_log.
const NEEDS_ESCAPE = /[\\'\u0000-\u001f\u007f]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Quotes a string as a ClickHouse string literal: `'it\'s'`. Escapes backslash, single quote, NUL (`\0`),
 * newline, carriage return and tab by name and the other control bytes as `\xHH`. Everything else (any
 * Unicode) passes through as UTF-8. Throws SqlValueError for strings with lone UTF-16 surrogates, which
 * have no UTF-8 form and would silently turn into U+FFFD.
 */
export function sqlString(value: string): string {
  if (typeof value !== 'string') throw new SqlValueError(`sqlString expects a string, got ${typeof value}`);
  if (LONE_SURROGATE.test(value)) {
    throw new SqlValueError('string holds a lone UTF-16 surrogate and cannot be encoded as UTF-8');
  }
  const body = value.replace(
    NEEDS_ESCAPE,
    (ch) => NAMED_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return `'${body}'`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Backtick-quotes one identifier (database, table or column name). Only `[A-Za-z_][A-Za-z0-9_]*` is accepted,
 * at most 255 characters: names come from code and configuration, and a narrow alphabet means there is
 * nothing to escape. Throws SqlValueError otherwise.
 */
export function sqlIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length > 255 || !IDENTIFIER.test(name)) {
    throw new SqlValueError(
      `invalid SQL identifier ${JSON.stringify(name)}: use letters, digits and _ (not first), at most 255 characters`,
    );
  }
  return `\`${name}\``;
}

/**
 * A number literal. NaN and ±Infinity become ClickHouse's `nan`, `inf`, `-inf` (Float64 columns hold them,
 * e.g. a provenance score that does not apply). Negative values are parenthesised so that `x-${-1}` cannot
 * turn into the comment `x--1`.
 */
export function sqlNumber(value: number | bigint): string {
  if (typeof value === 'bigint') return value < 0n ? `(${value})` : `${value}`;
  if (typeof value !== 'number') throw new SqlValueError(`sqlNumber expects a number, got ${typeof value}`);
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '(-inf)';
  // Object.is catches -0, whose String() is "0": keep the sign that a Float64 column can store.
  if (Object.is(value, -0)) return '(-0.)';
  if (value !== 0 && Math.abs(value) < MIN_NORMAL) return subnormal(value);
  return value < 0 ? `(${value})` : String(value);
}

const MIN_NORMAL = 2.2250738585072014e-308;
const HALF_SUBNORMAL_SCALE = 2 ** -537;

// ClickHouse 18.16's literal parser rejects subnormal doubles such as 5e-324. A subnormal is m * 2^-1074 with
// an integer m, and multiplying by powers of two is exact, so this expression evaluates to the same bits.
function subnormal(value: number): string {
  const mantissa = value * 2 ** 537 * 2 ** 537;
  return `(${mantissa} * ${HALF_SUBNORMAL_SCALE} * ${HALF_SUBNORMAL_SCALE})`;
}

/**
 * A DateTime literal, `toDateTime(<unix seconds>)`. Unix seconds mean the same instant whatever the server's
 * or the column's time zone; milliseconds are truncated (DateTime has second precision on every version).
 */
export function sqlDate(value: Date): string {
  const ms = value instanceof Date ? value.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new SqlValueError('invalid Date cannot be written as DateTime');
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0 || seconds > 0xffffffff) {
    throw new SqlValueError(`date ${value.toISOString()} is outside the DateTime range (1970 .. 2106)`);
  }
  return `toDateTime(${seconds})`;
}

/** Any supported value as SQL text; arrays become `[a, b]` literals with each element escaped by type. */
export function sqlValue(value: SqlValue): string {
  if (value instanceof SqlFragment) return value.text;
  if (value === null) return 'NULL';
  if (Array.isArray(value)) return `[${(value as readonly SqlValue[]).map(sqlValue).join(', ')}]`;
  if (value instanceof Date) return sqlDate(value);
  switch (typeof value) {
    case 'string':
      return sqlString(value);
    case 'number':
    case 'bigint':
      return sqlNumber(value);
    case 'boolean':
      return value ? '1' : '0';
    default:
      throw new SqlValueError(`cannot write a value of type ${typeof value} into SQL`);
  }
}

/** Builds a SqlFragment; every `${value}` is escaped by its type (SqlFragments are inserted as they are). */
function sqlTag(strings: TemplateStringsArray, ...values: readonly SqlValue[]): SqlFragment {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += sqlValue(value) + (strings[i + 1] ?? '');
  });
  return new SqlFragment(text);
}

/**
 * The SQL tag: `sql\`SELECT * FROM ${sql.id('samples')} WHERE shift_id = ${shiftId}\``.
 * - `sql.raw(text)`: trusted SQL text (constants in code, migrations); never user input.
 * - `sql.id('db', 'table')`: backtick-quoted, validated, dot-joined identifier.
 * - `sql.tuple(values)`: `(a, b, c)` for `IN`; ClickHouse does not accept an array on the right of IN.
 * - `sql.join(parts, sep)`: joins fragments or values with a trusted separator.
 */
export const sql = Object.assign(sqlTag, {
  raw(text: string): SqlFragment {
    return new SqlFragment(text);
  },
  id(...parts: string[]): SqlFragment {
    if (parts.length === 0) throw new SqlValueError('sql.id needs at least one name');
    return new SqlFragment(parts.map(sqlIdentifier).join('.'));
  },
  tuple(values: readonly SqlValue[]): SqlFragment {
    if (values.length === 0) throw new SqlValueError('sql.tuple needs at least one value (`x IN ()` is not SQL)');
    return new SqlFragment(`(${values.map(sqlValue).join(', ')})`);
  },
  join(parts: readonly SqlValue[], separator = ', '): SqlFragment {
    return new SqlFragment(parts.map(sqlValue).join(separator));
  },
});
