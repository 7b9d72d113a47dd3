// The first gate for ad-hoc user SQL. The real guarantee is the server side: the reader user's profile has
// readonly=1, which refuses writes, DDL and setting changes. This check only gives a clear error before
// the request leaves, and removes what would break the JSON result (a trailing `;` or FORMAT clause).
import { ReadOnlyQueryError } from './errors.js';

const READ_STATEMENTS = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN'];

/** Leading whitespace, `-- ...` and `/* ... *\/` comments and opening parentheses. */
const LEADING_NOISE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/;

/**
 * Returns the statement ready to send (trailing semicolons removed) or throws ReadOnlyQueryError when it
 * does not start with a reading keyword or carries its own FORMAT clause.
 */
export function assertReadOnlyStatement(userSql: string): string {
  const statement = userSql.replace(/[\s;]+$/, '');
  const body = statement.replace(LEADING_NOISE, '');
  const keyword = /^[A-Za-z]+/.exec(body)?.[0]?.toUpperCase();
  if (!keyword) throw new ReadOnlyQueryError('empty statement: nothing to run');
  if (!READ_STATEMENTS.includes(keyword)) {
    throw new ReadOnlyQueryError(
      `read-only queries may only ${READ_STATEMENTS.join(', ')}; got ${keyword}. ` +
        'Metrics tables are written by the metrics-sink from events, never by ad-hoc SQL.',
    );
  }
  if (/\bFORMAT\s+[A-Za-z]+$/i.test(statement)) {
    throw new ReadOnlyQueryError('remove the FORMAT clause: read-only queries return rows as JSON objects');
  }
  return statement;
}
