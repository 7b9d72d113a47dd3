// The vocabulary of config schemas: what an option may declare and the TypeScript type it resolves to.

interface OptionBase<T> {
  /** Environment variable that sets this option, e.g. `EMBEDDING_PORT`. */
  env: string;
  /** One sentence for the generated docs table. */
  doc: string;
  /** Value used when neither code nor environment sets the option. */
  default?: T;
  /** Without a default, `true` lets the option resolve to `undefined` instead of being required. */
  optional?: boolean;
  /** Replace the value with `***` in `redactConfig` (tokens, passwords). */
  secret?: boolean;
}

export interface StringOption extends OptionBase<string> {
  type: 'string';
  /** The whole value must match. */
  pattern?: RegExp;
}

export interface IntOption extends OptionBase<number> {
  type: 'int';
  min?: number;
  max?: number;
}

export interface NumberOption extends OptionBase<number> {
  type: 'number';
  min?: number;
  max?: number;
}

/** Accepts true/false, 1/0, yes/no, on/off (any case). */
export interface BoolOption extends OptionBase<boolean> {
  type: 'bool';
}

/** A separated list of strings; blanks around items are trimmed and empty items dropped. */
export interface ListOption extends OptionBase<readonly string[]> {
  type: 'list';
  /** @default ',' */
  separator?: string;
  /** When given, every item must be one of these. */
  values?: readonly string[];
}

/** One of a fixed set of strings; an environment value matches case-insensitively. */
export interface EnumOption<V extends string = string> extends OptionBase<V> {
  type: 'enum';
  values: readonly V[];
}

/** An absolute URL, kept as the string given. */
export interface UrlOption extends OptionBase<string> {
  type: 'url';
  /** Allowed protocols with their colon, e.g. `['http:', 'https:']`. */
  protocols?: readonly string[];
}

export type ConfigOption = StringOption | IntOption | NumberOption | BoolOption | ListOption | EnumOption | UrlOption;

export type ConfigSchema = Readonly<Record<string, ConfigOption>>;

type OptionValue<O> = O extends { type: 'int' | 'number' }
  ? number
  : O extends { type: 'bool' }
    ? boolean
    : O extends { type: 'list' }
      ? string[]
      : O extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

type MayBeUnset<O> = O extends { default: unknown } ? false : O extends { optional: true } ? true : false;

/** The resolved config object of a schema: one typed property per option. */
export type ConfigOf<S extends ConfigSchema> = {
  -readonly [K in keyof S]: MayBeUnset<S[K]> extends true ? OptionValue<S[K]> | undefined : OptionValue<S[K]>;
};

/**
 * Declares a schema while keeping its literal types, so enum options resolve to their union and
 * options with a default resolve to a non-optional type. Returns the schema unchanged.
 */
export function defineConfigSchema<const S extends ConfigSchema>(schema: S): S {
  return schema;
}
