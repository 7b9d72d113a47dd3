import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ConfigError,
  defineConfigSchema,
  grpcServerConfigSchema,
  redactConfig,
  renderConfigTable,
  resolveConfig,
  serverOptionsFromConfig,
} from './index.js';

const schema = defineConfigSchema({
  port: { env: 'DEMO_PORT', type: 'int', min: 0, max: 65535, default: 50051, doc: 'Port to bind.' },
  ratio: { env: 'DEMO_RATIO', type: 'number', min: 0, max: 1, default: 0.5, doc: 'Share kept.' },
  mode: { env: 'DEMO_MODE', type: 'enum', values: ['fast', 'exact'], default: 'fast', doc: 'Search mode.' },
  verbose: { env: 'DEMO_VERBOSE', type: 'bool', default: false, doc: 'Log more.' },
  topics: { env: 'DEMO_TOPICS', type: 'list', default: ['a', 'b'], doc: 'Topics to read.' },
  sink: { env: 'DEMO_SINK', type: 'url', protocols: ['http:', 'https:'], optional: true, doc: 'Where to post.' },
  token: { env: 'DEMO_TOKEN', type: 'string', optional: true, secret: true, doc: 'Bearer | token.' },
  modelDir: { env: 'DEMO_MODEL_DIR', type: 'string', doc: 'Directory of the model.' },
});

const required = { DEMO_MODEL_DIR: '/models/clip' };

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveConfig', () => {
  it('takes code overrides over the environment over defaults', () => {
    const env = { ...required, DEMO_PORT: '6000', DEMO_MODE: 'exact' };
    expect(resolveConfig(schema, {}, required).port).toBe(50051);
    expect(resolveConfig(schema, {}, env).port).toBe(6000);
    const config = resolveConfig(schema, { port: 7000, mode: undefined }, env);
    expect(config.port).toBe(7000);
    expect(config.mode).toBe('exact');
  });

  it('parses each type from its environment string', () => {
    const config = resolveConfig(schema, {}, {
      ...required,
      DEMO_RATIO: '0.25',
      DEMO_MODE: 'EXACT',
      DEMO_VERBOSE: 'yes',
      DEMO_TOPICS: ' x, y ,,z ',
      DEMO_SINK: 'https://sink.example/in',
      DEMO_TOKEN: 't',
    });
    expect(config).toEqual({
      port: 50051,
      ratio: 0.25,
      mode: 'exact',
      verbose: true,
      topics: ['x', 'y', 'z'],
      sink: 'https://sink.example/in',
      token: 't',
      modelDir: '/models/clip',
    });
    expectTypeOf(config.port).toEqualTypeOf<number>();
    expectTypeOf(config.mode).toEqualTypeOf<'fast' | 'exact'>();
    expectTypeOf(config.topics).toEqualTypeOf<string[]>();
    expectTypeOf(config.sink).toEqualTypeOf<string | undefined>();
    expectTypeOf(config.modelDir).toEqualTypeOf<string>();
  });

  it('treats an empty variable as unset', () => {
    expect(resolveConfig(schema, {}, { ...required, DEMO_PORT: '' }).port).toBe(50051);
  });

  it('names the variable and the value that are wrong', () => {
    const error = configError(() => resolveConfig(schema, {}, { ...required, DEMO_PORT: '80a' }));
    expect(error.message).toContain('DEMO_PORT="80a" is not an integer');
    expect(error.issues).toEqual([
      { option: 'port', env: 'DEMO_PORT', source: 'env', value: '80a', reason: 'is not an integer' },
    ]);
  });

  it('reports every problem at once, including missing required options and bad overrides', () => {
    const error = configError(() =>
      resolveConfig(schema, { ratio: 2 }, { DEMO_MODE: 'slow', DEMO_VERBOSE: 'maybe', DEMO_SINK: 'ftp://x', DEMO_PORT: '70000' }),
    );
    expect(error.issues.map((i) => `${i.env}: ${i.reason}`)).toEqual([
      'DEMO_PORT: is above the maximum 65535',
      'DEMO_RATIO: is above the maximum 1',
      'DEMO_MODE: is not one of fast, exact',
      'DEMO_VERBOSE: is not a boolean (use true/false, 1/0, yes/no or on/off)',
      'DEMO_SINK: has protocol ftp:, expected http: or https:',
      'DEMO_MODEL_DIR: is required: Directory of the model.',
    ]);
    expect(error.message).toContain('option "ratio" (set in code) = 2 is above the maximum 1');
  });
});

describe('renderConfigTable', () => {
  it('documents every option with its variable, type, default and description', () => {
    const table = renderConfigTable(schema).split('\n');
    expect(table[0]).toBe('| Variable | Type | Default | Description |');
    expect(table).toContain('| `DEMO_PORT` | int (0..65535) | `50051` | Port to bind. |');
    expect(table).toContain('| `DEMO_MODE` | enum: fast, exact | `fast` | Search mode. |');
    expect(table).toContain('| `DEMO_TOPICS` | list (","-separated) | `a,b` | Topics to read. |');
    expect(table).toContain('| `DEMO_TOKEN` | string | (unset) | Bearer \\| token. |');
    expect(table).toContain('| `DEMO_MODEL_DIR` | string | **required** | Directory of the model. |');
    expect(table).toHaveLength(2 + Object.keys(schema).length);
  });
});

describe('redactConfig', () => {
  it('hides secrets that are set and keeps everything else', () => {
    const config = resolveConfig(schema, { token: 'hunter2' }, required);
    const safe = redactConfig(schema, config);
    expect(safe['token']).toBe('***');
    expect(safe['port']).toBe(50051);
    expect(JSON.stringify(safe)).not.toContain('hunter2');
  });
});

describe('grpc server config', () => {
  it('reads a service prefix from the environment into server options', () => {
    const config = resolveConfig(grpcServerConfigSchema('EMBEDDING', { port: 50061 }), {}, {
      EMBEDDING_HOST: '0.0.0.0',
      EMBEDDING_AUTH_TOKENS: 'a, b',
      EMBEDDING_TLS_CERT: '/tls/cert.pem',
      EMBEDDING_TLS_KEY: '/tls/key.pem',
    });
    expect(serverOptionsFromConfig(config)).toEqual({
      host: '0.0.0.0',
      port: 50061,
      defaultDeadlineMs: 300_000,
      maxReceiveMessageBytes: 64 * 1024 * 1024,
      maxSendMessageBytes: 64 * 1024 * 1024,
      shutdownGraceMs: 10_000,
      tls: { cert: '/tls/cert.pem', key: '/tls/key.pem' },
      authTokens: ['a', 'b'],
    });
  });

  it('refuses half a TLS setup', () => {
    const config = resolveConfig(grpcServerConfigSchema('EMBEDDING'), {}, { EMBEDDING_TLS_CERT: '/tls/cert.pem' });
    expect(() => serverOptionsFromConfig(config)).toThrow(ConfigError);
  });
});
