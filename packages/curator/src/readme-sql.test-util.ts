// The README's SQL, as a user copies it: the blocks after `-- README query: <name>` markers, with
// `{shift_id}` / `{source_id}` placeholders filled in as SQL string literals.
import { readFileSync } from 'node:fs';
import { sql, sqlString, type SqlFragment } from '@select/metrics';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

export function readmeQuery(name: string, values: Record<string, string>): SqlFragment {
  const marker = `-- README query: ${name}\n`;
  const start = readme.indexOf(marker);
  if (start === -1) throw new Error(`README.md has no query marked "${name}"`);
  const end = readme.indexOf('```', start);
  let text = readme.slice(start + marker.length, end).trim();
  for (const [key, value] of Object.entries(values)) text = text.split(`{${key}}`).join(sqlString(value));
  return sql.raw(text);
}
