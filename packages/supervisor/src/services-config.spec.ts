import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SupervisorConfigError } from './errors.js';
import { SERVICE_DEFINITIONS } from './service-table.js';
import { DEFAULT_CONFIG_FILE, loadServicesConfig, repositoryRoot, resolveServicesConfig } from './services-config.js';

const ROOT = repositoryRoot();
const resolveRaw = (raw: unknown) => resolveServicesConfig(raw, SERVICE_DEFINITIONS, { root: ROOT, base: ROOT, file: 'test.json' });

describe('services config', () => {
  it('no file at all: every service on its documented port, data, logs and pid files under .work/services', () => {
    const config = resolveRaw({});
    expect(config).toMatchObject({ dataDir: join(ROOT, '.work/services'), logsDir: join(ROOT, '.work/services/logs'), runDir: join(ROOT, '.work/services/run'), host: '127.0.0.1' });
    expect(Object.fromEntries(Object.entries(config.services).map(([name, s]) => [name, s.port]))).toEqual({
      'metrics-sink': 50070,
      embedding: 50061,
      retrieval: 50062,
      generation: 50063,
      curator: 50064,
      'curator-worker': 0,
      trainer: 50065,
      evaluator: 50066,
    });
    expect(config.services['curator-worker']).toMatchObject({ replicas: 2, dataDir: join(ROOT, '.work/services/curator-worker'), stopTimeoutMs: 30_000, startTimeoutMs: 120_000 });
  });

  it('the committed select.services.json resolves to the built-in defaults plus the fixture models', () => {
    const committed = loadServicesConfig(SERVICE_DEFINITIONS, { root: ROOT });
    expect(committed.file).toBe(join(ROOT, DEFAULT_CONFIG_FILE));
    const defaults = resolveRaw({});
    for (const [name, service] of Object.entries(committed.services)) {
      expect({ ...service, models: [] }, name).toEqual({ ...defaults.services[name], models: [] });
    }
    expect(committed.services['embedding']!.models.map((m) => m.name)).toEqual(['tiny-clip', 'tiny-resnet', 'tiny-sentence', 'all-minilm-l6-v2']);
    expect(committed.services['generation']!.models).toEqual([
      { name: 'tiny-sd', dir: join(ROOT, 'tools/fixtures/tiny-sd/model') },
      { name: 'tiny-sd-variations', dir: join(ROOT, 'tools/fixtures/tiny-sd/model-variations') },
    ]);
  });

  it('relative paths are taken from the folder of the file; env values may be numbers or booleans', () => {
    const dir = mkdtempSync(join(tmpdir(), 'services-config-'));
    const file = join(dir, 'mine.json');
    writeFileSync(file, JSON.stringify({ dataDir: 'state', env: { LOG_LEVEL: 'debug' }, services: { embedding: { models: { clip: 'models/clip' }, env: { EMBEDDING_MAX_BATCH: 64, EMBEDDING_PUBLISH_JOB_EVENTS: false } } } }));
    const config = loadServicesConfig(SERVICE_DEFINITIONS, { file, root: ROOT });
    expect(config).toMatchObject({ file, root: ROOT, dataDir: join(dir, 'state'), logsDir: join(dir, 'state/logs'), env: { LOG_LEVEL: 'debug' } });
    expect(config.services['embedding']).toMatchObject({
      models: [{ name: 'clip', dir: join(dir, 'models/clip') }],
      dataDir: join(dir, 'state/embedding'),
      env: { EMBEDDING_MAX_BATCH: '64', EMBEDDING_PUBLISH_JOB_EVENTS: 'false' },
    });
  });

  it('names every problem of a bad file in one error: unknown options and services, bad ports, clashing ports, replicas of a single service', () => {
    let error: unknown;
    try {
      resolveRaw({
        dataDri: 'x',
        services: {
          embeding: {},
          embedding: { port: 70000, modles: {} },
          retrieval: { port: 50061, replicas: 2 },
          trainer: { models: { 'bad name': '/x' } },
        },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SupervisorConfigError);
    const message = (error as Error).message;
    expect(message).toContain('dataDri: unknown option');
    expect(message).toContain('services.embeding: no such service');
    expect(message).toContain('services.embedding.port must be a port number 1..65535');
    expect(message).toContain('services.embedding.modles: unknown option');
    expect(message).toContain('services.retrieval.replicas: retrieval runs as one process');
    expect(message).toContain('services.trainer.models: trainer serves no models');
    expect(() => resolveRaw({ services: { retrieval: { port: 50061 } } })).toThrow('port 50061 is given to both embedding and retrieval');
    expect(() => resolveRaw({ services: { evaluator: { port: 50065 } } })).toThrow('port 50065 is given to both trainer and evaluator');
  });

  it('a missing or unreadable file is an error that names it', () => {
    expect(() => loadServicesConfig(SERVICE_DEFINITIONS, { file: '/nonexistent/select.services.json' })).toThrow('config file /nonexistent/select.services.json does not exist');
    const dir = mkdtempSync(join(tmpdir(), 'services-config-'));
    writeFileSync(join(dir, 'broken.json'), '{ "services": ');
    expect(() => loadServicesConfig(SERVICE_DEFINITIONS, { file: join(dir, 'broken.json') })).toThrow(/broken\.json is not valid JSON/);
    writeFileSync(join(dir, 'x.yaml'), 'services: {}');
    expect(() => loadServicesConfig(SERVICE_DEFINITIONS, { file: join(dir, 'x.yaml') })).toThrow('only JSON is read');
  });
});
