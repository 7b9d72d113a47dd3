// Result tables for people: aligned columns, numbers right-aligned, one line per row whatever the data holds.

export interface TableColumn {
  name: string;
  /** ClickHouse type; numeric types are right-aligned. @default 'String' */
  type?: string;
}

export interface TableFormatOptions {
  /** Longer cells are cut to this many characters and end in `…`; 0 keeps them whole. @default 60 */
  maxCellWidth?: number;
  /** End with a `(N rows)` line. @default true */
  footer?: boolean;
}

const NUMERIC_TYPE = /^(?:Nullable\()?(?:U?Int\d+|Float\d+|Decimal)/;

/**
 * Renders rows as a text table with a header line, a rule and (unless `footer: false`) a `(N rows)` line. NULL (and NaN, which the
 * JSON formats send as null) prints as `NULL`; arrays, maps and tuples as JSON; tabs and newlines inside a cell
 * as `\t` and `\n`, so every row stays on one line.
 */
export function formatTable(columns: readonly TableColumn[], rows: readonly (readonly unknown[])[], options: TableFormatOptions = {}): string {
  const maxCellWidth = options.maxCellWidth ?? 60;
  const header = columns.map((c) => cellText(c.name, maxCellWidth));
  const body = rows.map((row) => columns.map((_c, i) => cellText(row[i], maxCellWidth)));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]?.length ?? 0)));
  const rightAligned = columns.map((c) => NUMERIC_TYPE.test(c.type ?? 'String'));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const lines = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  if (options.footer ?? true) lines.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return `${lines.join('\n')}\n`;
}

function cellText(value: unknown, maxWidth: number): string {
  const text = value === null || value === undefined ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  const oneLine = text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return maxWidth > 0 && oneLine.length > maxWidth ? `${oneLine.slice(0, maxWidth - 1)}…` : oneLine;
}
