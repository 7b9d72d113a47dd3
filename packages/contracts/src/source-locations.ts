// SourceCodeInfo for the descriptors of file-descriptors.ts: the comments written in a .proto, on the messages,
// fields, enums, values, services and methods they describe, so `grpcurl describe` and other reflection
// clients show them. protobufjs keeps each declaration's comment but not its line, so a small scanner of the
// source finds the line of every declaration (a span is required, and must be sensible).

/** Declaration lines (0-based) by name relative to the package: `Msg`, `Msg.field`, `Msg.Inner`, `Enum.VALUE`, `Service.Method`. */
export function declarationLines(source: string): Map<string, { line: number; length: number; trailingComment: boolean }> {
  const found = new Map<string, { line: number; length: number; trailingComment: boolean }>();
  const scopes: Array<{ kind: string; name: string }> = [];
  const prefix = (): string => scopes.filter((s) => s.kind !== 'oneof' && s.kind !== 'other').map((s) => s.name).join('.');
  const key = (name: string): string => (prefix() ? `${prefix()}.${name}` : name);
  let inBlockComment = false;
  source.split('\n').forEach((raw, line) => {
    let text = raw;
    if (inBlockComment) {
      const end = text.indexOf('*/');
      if (end < 0) return;
      text = text.slice(end + 2);
      inBlockComment = false;
    }
    const lineComment = text.indexOf('//');
    const code = (lineComment >= 0 ? text.slice(0, lineComment) : text).replace(/\/\*.*?\*\//g, '');
    const blockStart = code.indexOf('/*');
    const statement = blockStart >= 0 ? code.slice(0, blockStart) : code;
    if (blockStart >= 0) inBlockComment = true;
    const trailingComment = lineComment >= 0 && statement.trim() !== '';
    const record = (name: string): void => {
      if (!found.has(key(name))) found.set(key(name), { line, length: raw.length, trailingComment });
    };
    const scope = scopes.at(-1)?.kind;
    const block = /^\s*(message|enum|service|oneof)\s+(\w+)\s*\{/.exec(statement);
    if (block) {
      const [, kind = '', name = ''] = block;
      if (kind !== 'oneof') record(name);
      else if (scopes.length > 0) found.set(`${prefix()}.${name}`, { line, length: raw.length, trailingComment });
      scopes.push({ kind, name });
    } else if (scope === 'service') {
      const rpc = /^\s*rpc\s+(\w+)/.exec(statement);
      if (rpc?.[1]) record(rpc[1]);
    } else if (scope === 'enum') {
      const value = /^\s*(\w+)\s*=\s*-?\w+/.exec(statement);
      if (value?.[1] && value[1] !== 'option') record(value[1]);
    } else if (scope === 'message' || scope === 'oneof') {
      const field = /^\s*(?:(?:repeated|optional|required)\s+)?(?:map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+/.exec(statement);
      if (field?.[1] && !/^\s*(option|reserved|extensions)\b/.test(statement)) record(field[1]);
    }
    // Other braces (method options, option values) open scopes of their own; each `}` closes the innermost
    // (`message Empty {}` opens and closes on one line).
    const opens = (statement.match(/\{/g) ?? []).length - (block ? 1 : 0);
    for (let i = 0; i < opens; i++) scopes.push({ kind: 'other', name: '' });
    const closes = (statement.match(/\}/g) ?? []).length;
    for (let i = 0; i < closes; i++) scopes.pop();
  });
  return found;
}

/** A comment as protoc stores it: each line after `//` (leading space kept), newline-terminated. */
export function protocComment(comment: string): string {
  return `${comment
    .split('\n')
    .map((l) => ` ${l}`)
    .join('\n')}\n`;
}
