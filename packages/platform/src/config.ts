import type { ConfigOf, ConfigOption, ConfigSchema } from './config-schema.js';
import { checkValue, parseEnvValue } from './config-values.js';
import { ConfigError, type ConfigIssue } from './errors.js';

/** Overrides given in code: any subset of the options; `undefined` means "not overridden". */
export type ConfigOverrides<S extends ConfigSchema> = { [K in keyof S]?: ConfigOf<S>[K] | undefined };

/**
 * Resolves every option of `schema`, taking the first that is set of: the code override, the
 * environment variable (an empty variable counts as unset), the default. Throws one `ConfigError`
 * listing every invalid or missing option, each named by its environment variable and value.
 */
export function resolveConfig<S extends ConfigSchema>(
  schema: S,
  overrides: ConfigOverrides<S> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigOf<S> {
  const resolved: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  for (const [key, option] of Object.entries(schema)) {
    const issue = resolveOption(key, option, (overrides as Record<string, unknown>)[key], env[option.env], resolved);
    if (issue) issues.push(issue);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return resolved as ConfigOf<S>;
}

function resolveOption(
  key: string,
  option: ConfigOption,
  override: unknown,
  envValue: string | undefined,
  into: Record<string, unknown>,
): ConfigIssue | undefined {
  const base = { option: key, env: option.env };
  if (override !== undefined) {
    const reason = checkValue(option, override);
    if (reason !== undefined) return { ...base, source: 'code', value: override, reason };
    into[key] = Array.isArray(override) ? [...(override as unknown[])] : override;
    return undefined;
  }
  if (envValue !== undefined && envValue !== '') {
    const parsed = parseEnvValue(option, envValue);
    if (!parsed.ok) return { ...base, source: 'env', value: envValue, reason: parsed.reason };
    into[key] = parsed.value;
    return undefined;
  }
  if (option.default !== undefined) {
    // A bad default is a programming error, but reporting it like the others beats a silent wrong value.
    const reason = checkValue(option, option.default);
    if (reason !== undefined) return { ...base, source: 'default', value: option.default, reason };
    into[key] = Array.isArray(option.default) ? [...option.default] : option.default;
    return undefined;
  }
  if (option.optional) {
    into[key] = undefined;
    return undefined;
  }
  return { ...base, source: 'missing', reason: `is required: ${option.doc}` };
}

/** A copy of a resolved config that is safe to log: options marked `secret` that are set read `***`. */
export function redactConfig<S extends ConfigSchema>(schema: S, config: ConfigOf<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    out[key] = schema[key]?.secret && value !== undefined ? '***' : value;
  }
  return out;
}

/**
 * The options of `schema` as a markdown table (variable, type, default, description), so a
 * service's README can be regenerated from, and checked against, the schema it really uses.
 */
export function renderConfigTable(schema: ConfigSchema): string {
  const rows = Object.values(schema).map((option) =>
    [`\`${option.env}\``, describeType(option), describeDefault(option), option.doc].map(escapeCell),
  );
  return [
    '| Variable | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

function describeType(option: ConfigOption): string {
  switch (option.type) {
    case 'int':
    case 'number':
      if (option.min !== undefined && option.max !== undefined) return `${option.type} (${option.min}..${option.max})`;
      if (option.min !== undefined) return `${option.type} ≥ ${option.min}`;
      if (option.max !== undefined) return `${option.type} ≤ ${option.max}`;
      return option.type;
    case 'enum':
      return `enum: ${option.values.join(', ')}`;
    case 'list':
      return `list (${JSON.stringify(option.separator ?? ',')}-separated${option.values ? `; of ${option.values.join(', ')}` : ''})`;
    case 'url':
      return option.protocols ? `url (${option.protocols.join(' ')})` : 'url';
    case 'string':
      return option.pattern ? `string matching \`${option.pattern.source}\`` : 'string';
    case 'bool':
      return 'bool';
  }
}

function describeDefault(option: ConfigOption): string {
  if (option.default !== undefined) {
    const value = Array.isArray(option.default) ? option.default.join(option.type === 'list' ? (option.separator ?? ',') : ',') : String(option.default);
    return value === '' ? '(empty)' : `\`${value}\``;
  }
  return option.optional ? '(unset)' : '**required**';
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
