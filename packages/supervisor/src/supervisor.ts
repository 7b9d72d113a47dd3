// Runs the services of the table as detached processes, each with its own log file and pid file, and asks
// their grpc.health.v1 service how they are. Every command works from the files alone, so `up`, `status` and
// `down` may be run by different `select` processes (and after the one that started them has exited).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GrpcCallError, checkHealth, statusName } from '@select/platform';
import { buildFingerprint } from './build-fingerprint.js';
import { SupervisorError } from './errors.js';
import { isAlive, processStartTicks, readRecord, removeRecord, signalProcess, writeRecord, type ProcessRecord } from './process-record.js';
import type { ServiceContext, ServiceDefinition } from './service-definition.js';
import type { ResolvedServiceConfig, ResolvedServicesConfig } from './services-config.js';
import { SERVICE_DEFINITIONS } from './service-table.js';

/** One process of a service: the service itself, or one replica of a replicated service. */
export interface ServiceInstance {
  service: string;
  /** `embedding`, or `curator-worker-2` for a replica. */
  instance: string;
  replica: number;
  /** gRPC port; 0 for a process without a health service. */
  port: number;
  /** `host:port` where its health is asked. */
  address: string;
  program: string;
  logFile: string;
  recordFile: string;
}

export type InstanceState = 'healthy' | 'unhealthy' | 'dead' | 'stopped' | 'external' | 'not built' | 'disabled';

export interface InstanceStatus {
  service: string;
  instance: string;
  state: InstanceState;
  pid: number | undefined;
  /** gRPC port; undefined for a process without a health service. */
  port: number | undefined;
  /** Version of the package it runs (as recorded at its start), else of the package on disk. */
  version: string;
  /** Milliseconds since it started; undefined when it does not run. */
  uptimeMs: number | undefined;
  logFile: string;
  /** One line: the health answer, why it is dead, what to do. */
  detail: string;
}

export type UpOutcome = 'started' | 'restarted' | 'already running' | 'external' | 'not built' | 'disabled' | 'skipped' | 'failed';
export interface UpResult {
  service: string;
  instance: string;
  outcome: UpOutcome;
  pid: number | undefined;
  port: number | undefined;
  detail: string;
}

export type DownOutcome = 'stopped' | 'killed' | 'not running' | 'was dead' | 'external';
export interface DownResult {
  service: string;
  instance: string;
  outcome: DownOutcome;
  pid: number | undefined;
  detail: string;
}

export interface SupervisorOptions {
  /** The services that exist. @default SERVICE_DEFINITIONS */
  definitions?: readonly ServiceDefinition[];
  /** Called with a line of progress as things happen (`embedding: started, pid 123`). */
  onProgress?: (instance: string, message: string) => void;
}

/** Log files above this size are moved to `<name>.log.1` when their process starts again. */
const ROTATE_LOG_BYTES = 64 * 1024 * 1024;
const POLL_MS = 200;

export class Supervisor {
  readonly definitions: readonly ServiceDefinition[];
  private readonly progress: (instance: string, message: string) => void;

  constructor(
    readonly config: ResolvedServicesConfig,
    options: SupervisorOptions = {},
  ) {
    this.definitions = options.definitions ?? SERVICE_DEFINITIONS;
    this.progress = options.onProgress ?? (() => undefined);
  }

  /** The processes of the named services or instances (all when none are named), in start order. */
  instances(names: readonly string[] = []): ServiceInstance[] {
    const all = this.definitions.flatMap((d) => this.instancesOf(d));
    if (names.length === 0) return all;
    for (const name of names) {
      if (!this.definitions.some((d) => d.name === name) && !all.some((i) => i.instance === name)) {
        throw new SupervisorError(`no service or process named "${name}"; known: ${all.map((i) => i.instance).join(', ')}`);
      }
    }
    return all.filter((i) => names.includes(i.service) || names.includes(i.instance));
  }

  /**
   * Starts what is not running: the named services (all when none are named) and the services they depend on,
   * in dependency order, each waited for until its health says SERVING. A healthy process is left alone unless
   * its code was rebuilt after it started (its package's or a workspace dependency's dist/): then it is stopped as
   * `down` stops it and started on the new build. A dead one is started again; a service whose program is not
   * built is reported and skipped.
   */
  async up(names: readonly string[] = []): Promise<UpResult[]> {
    const explicit = names.length === 0 ? undefined : this.instances(names);
    const named = new Set(explicit?.map((i) => i.service) ?? this.definitions.map((d) => d.name));
    const wanted = new Set(this.withDependencies([...named]));
    // A named replica starts alone; the services it depends on start whole.
    const include = (instance: ServiceInstance): boolean => !explicit || !named.has(instance.service) || explicit.some((i) => i.instance === instance.instance);
    const results: UpResult[] = [];
    const failedServices = new Set<string>();
    for (const level of this.levels()) {
      const levelResults = await Promise.all(
        level
          .filter((d) => wanted.has(d.name))
          .flatMap((definition) => {
            const blocked = definition.dependsOn.filter((dep) => failedServices.has(dep));
            return this.instancesOf(definition)
              .filter(include)
              .map((instance) => this.upInstance(definition, instance, blocked));
          }),
      );
      for (const result of levelResults) {
        results.push(result);
        if (result.outcome === 'failed' || result.outcome === 'skipped') failedServices.add(result.service);
      }
    }
    return results;
  }

  /**
   * Stops the named services or instances (all when none are named), dependants first: SIGTERM, which every
   * service answers by draining its calls and checkpointing its jobs; SIGKILL to the whole process group after
   * the stop timeout. Processes not started by the supervisor are left alone.
   */
  async down(names: readonly string[] = [], options: { timeoutMs?: number } = {}): Promise<DownResult[]> {
    const selected = names.length === 0 ? undefined : new Set(this.instances(names).map((i) => i.instance));
    const levels = this.levels().reverse();
    const results: DownResult[] = [];
    for (const level of levels) {
      const jobs: Promise<DownResult>[] = [];
      for (const definition of level) {
        const instances = await this.instancesIncludingLeftovers(definition);
        for (const instance of instances) {
          if (selected && !selected.has(instance.instance) && !names.includes(definition.name)) continue;
          const timeoutMs = options.timeoutMs ?? this.serviceConfig(definition).stopTimeoutMs;
          jobs.push(this.downInstance(definition, instance, timeoutMs));
        }
      }
      results.push(...(await Promise.all(jobs)));
    }
    return results;
  }

  /** Every process of the named services (all when none are named), asked in parallel. */
  async status(names: readonly string[] = []): Promise<InstanceStatus[]> {
    const selected = names.length === 0 ? undefined : new Set(this.instances(names).map((i) => i.instance));
    const jobs: Promise<InstanceStatus>[] = [];
    for (const definition of this.definitions) {
      for (const instance of await this.instancesIncludingLeftovers(definition)) {
        if (selected && !selected.has(instance.instance) && !names.includes(definition.name)) continue;
        jobs.push(this.statusOf(definition, instance));
      }
    }
    return Promise.all(jobs);
  }

  /** The log file of a process (`embedding`, `curator-worker-1`; a replicated service's name means its first replica). */
  logFile(name: string): string {
    const instance = this.instances([name])[0];
    if (!instance) throw new SupervisorError(`no process named "${name}"`);
    return instance.logFile;
  }

  /** The last `lines` lines of a process's log. */
  async tail(name: string, lines = 100): Promise<string> {
    const file = this.logFile(name);
    if (!existsSync(file)) throw new SupervisorError(`${name} has no log yet (${file}); it has never been started by \`select services up\``);
    return tailFile(file, lines);
  }

  /** Writes what is appended to a process's log until `signal` aborts; starts at the current end. */
  async follow(name: string, write: (text: string) => void, signal: AbortSignal): Promise<void> {
    const file = this.logFile(name);
    let offset = existsSync(file) ? statSync(file).size : 0;
    while (!signal.aborted) {
      const size = existsSync(file) ? statSync(file).size : 0;
      if (size < offset) offset = 0; // rotated or truncated: the new file from its start
      if (size > offset) {
        const handle = await open(file, 'r');
        try {
          const buffer = Buffer.alloc(size - offset);
          await handle.read(buffer, 0, buffer.length, offset);
          write(buffer.toString('utf8'));
          offset = size;
        } finally {
          await handle.close();
        }
      }
      await sleep(300, signal);
    }
  }

  // ---- up ----

  private async upInstance(definition: ServiceDefinition, instance: ServiceInstance, blockedBy: readonly string[]): Promise<UpResult> {
    const base = { service: definition.name, instance: instance.instance, port: instance.port || undefined };
    const service = this.serviceConfig(definition);
    if (!service.enabled) return { ...base, outcome: 'disabled', pid: undefined, detail: 'enabled: false in the services config' };
    if (!existsSync(instance.program)) {
      return { ...base, outcome: 'not built', pid: undefined, detail: `${relativeToRoot(this.config.root, instance.program)} does not exist (build it: npx nx run @select/${definition.packageDir}:build)` };
    }
    if (blockedBy.length > 0) {
      return { ...base, outcome: 'skipped', pid: undefined, detail: `not started: ${blockedBy.join(', ')} did not come up` };
    }
    const record = await readRecord(instance.recordFile);
    let wasDead = false;
    let rebuilt = false;
    if (record && isAlive(record) && this.rebuiltSince(definition, instance, record)) {
      this.progress(instance.instance, `its code was rebuilt after it started (pid ${record.pid}): restarting it on the new build`);
      const stopped = await this.downInstance(definition, instance, service.stopTimeoutMs);
      if (stopped.outcome !== 'stopped' && stopped.outcome !== 'killed') {
        return { ...base, outcome: 'failed', pid: record.pid, detail: `rebuilt since it started, but it could not be stopped: ${stopped.outcome} ${stopped.detail}` };
      }
      rebuilt = true;
    } else if (record) {
      if (isAlive(record)) {
        const health = await this.health(definition, instance);
        if (health.serving) return { ...base, outcome: 'already running', pid: record.pid, detail: `pid ${record.pid}, ${health.detail}` };
        // Alive but not serving: it may still be loading; give it the start timeout before calling it failed.
        this.progress(instance.instance, `running (pid ${record.pid}) but ${health.detail}; waiting for it`);
        return this.waitServing(definition, instance, record, service.startTimeoutMs, 'already running');
      }
      wasDead = true;
      await removeRecord(instance.recordFile);
    }
    if (definition.health === 'grpc') {
      const health = await this.health(definition, instance);
      if (health.serving) {
        return { ...base, outcome: 'external', pid: undefined, detail: `something already serves ${instance.address} (not started by select services); left alone` };
      }
    }
    const started = await this.spawnInstance(definition, instance, service);
    const how = rebuilt ? 'restarted on its new build' : wasDead ? 'restarted (its last process had died)' : 'started';
    this.progress(instance.instance, `${how}: pid ${started.pid}, ${definition.health === 'grpc' ? `port ${instance.port}, ` : ''}log ${relativeToRoot(this.config.root, instance.logFile)}`);
    return this.waitServing(definition, instance, started, service.startTimeoutMs, wasDead || rebuilt ? 'restarted' : 'started');
  }

  private async spawnInstance(definition: ServiceDefinition, instance: ServiceInstance, service: ResolvedServiceConfig): Promise<ProcessRecord> {
    const dataDir = definition.replicated ? join(service.dataDir, String(instance.replica)) : service.dataDir;
    await mkdir(dataDir, { recursive: true });
    await mkdir(this.config.logsDir, { recursive: true });
    await mkdir(this.config.runDir, { recursive: true });
    const modelsDir = definition.modelsEnv ? await this.linkModels(definition, service, instance) : undefined;
    const context: ServiceContext = {
      dataDir,
      modelsDir,
      addressOf: (name) => this.addressOf(name),
      dataDirOf: (name) => this.serviceConfig(this.definition(name)).dataDir,
      replicasOf: (name) => {
        const other = this.definition(name);
        const config = this.serviceConfig(other);
        return config.enabled && existsSync(this.instance(other, 1).program) ? (other.replicated ? config.replicas : 1) : 0;
      },
      replica: instance.replica,
      port: instance.port,
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...this.config.env,
      ...(this.config.kafkaTopicPrefix !== undefined
        ? { KAFKA_TOPIC_PREFIX: this.config.kafkaTopicPrefix, ...(definition.topicPrefixEnv ? { [definition.topicPrefixEnv]: this.config.kafkaTopicPrefix } : {}) }
        : {}),
      ...(definition.environment?.(context) ?? {}),
      ...(definition.modelsEnv && modelsDir ? { [definition.modelsEnv]: modelsDir } : {}),
      ...service.env,
      ...(definition.health === 'grpc' ? { [`${definition.envPrefix}_HOST`]: this.config.host, [`${definition.envPrefix}_PORT`]: String(instance.port) } : {}),
    };
    await rotateLog(instance.logFile);
    const out = openSync(instance.logFile, 'a');
    let pid: number;
    try {
      const child = spawn(process.execPath, [instance.program, ...(definition.args ?? [])], {
        cwd: this.config.root,
        env,
        detached: true,
        stdio: ['ignore', out, out],
      });
      pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', reject);
      });
      child.unref();
    } finally {
      closeSync(out);
    }
    const record: ProcessRecord = {
      service: definition.name,
      instance: instance.instance,
      pid,
      startTicks: processStartTicks(pid),
      port: instance.port,
      version: packageVersion(this.config.root, definition),
      programMtimeMs: statSync(instance.program).mtimeMs,
      buildFingerprint: buildFingerprint(this.config.root, definition.packageDir, instance.program),
      program: instance.program,
      logFile: instance.logFile,
      startedAt: new Date().toISOString(),
    };
    await writeRecord(instance.recordFile, record);
    return record;
  }

  /**
   * A folder with one sub-folder per configured model, named as configured (what the services' MODELS_DIR
   * variables expect). The sub-folders are real folders of links to the model's files, not links themselves:
   * a scanner that lists directories without following links still finds them, and nothing is copied.
   */
  private async linkModels(definition: ServiceDefinition, service: ResolvedServiceConfig, instance: ServiceInstance): Promise<string> {
    const dir = join(service.dataDir, 'models');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const model of service.models) {
      if (!existsSync(model.dir)) {
        this.progress(instance.instance, `model ${model.name}: ${model.dir} does not exist; not served`);
        continue;
      }
      await mirrorDirectory(model.dir, join(dir, model.name));
    }
    if (service.models.length === 0) this.progress(instance.instance, `no models configured (services.${definition.name}.models)`);
    return dir;
  }

  private async waitServing(
    definition: ServiceDefinition,
    instance: ServiceInstance,
    record: ProcessRecord,
    timeoutMs: number,
    outcome: 'started' | 'restarted' | 'already running',
  ): Promise<UpResult> {
    const base = { service: definition.name, instance: instance.instance, port: instance.port || undefined, pid: record.pid };
    const began = Date.now();
    let last = 'no answer yet';
    while (Date.now() - began < timeoutMs) {
      if (!isAlive(record)) {
        await removeRecord(instance.recordFile);
        const tail = existsSync(instance.logFile) ? (await tailFile(instance.logFile, 8)).trimEnd() : '';
        return { ...base, outcome: 'failed', detail: `exited during start; last lines of ${instance.logFile}:\n${tail}` };
      }
      if (definition.health === 'process') {
        // Nothing to ask: a process that is still alive after a second has come up.
        if (Date.now() - began >= 1_000) break;
      } else {
        const health = await this.health(definition, instance);
        if (health.serving) {
          const seconds = ((Date.now() - began) / 1000).toFixed(1);
          this.progress(instance.instance, `healthy after ${seconds} s`);
          return { ...base, outcome, detail: `healthy after ${seconds} s` };
        }
        last = health.detail;
      }
      await sleep(POLL_MS);
    }
    if (definition.health === 'process') return { ...base, outcome, detail: 'running (no health service: process alive)' };
    return {
      ...base,
      outcome: 'failed',
      detail: `not SERVING after ${Math.round(timeoutMs / 1000)} s (${last}); still running as pid ${record.pid}, see ${instance.logFile}`,
    };
  }

  // ---- down ----

  private async downInstance(definition: ServiceDefinition, instance: ServiceInstance, timeoutMs: number): Promise<DownResult> {
    const base = { service: definition.name, instance: instance.instance };
    const record = await readRecord(instance.recordFile);
    if (!record) {
      if (definition.health === 'grpc' && (await this.health(definition, instance)).serving) {
        return { ...base, outcome: 'external', pid: undefined, detail: `${instance.address} is served by a process select services did not start; left alone` };
      }
      return { ...base, outcome: 'not running', pid: undefined, detail: '' };
    }
    if (!isAlive(record)) {
      signalProcess(record.pid, 'SIGKILL', true); // whatever its children left behind
      await removeRecord(instance.recordFile);
      return { ...base, outcome: 'was dead', pid: record.pid, detail: 'its process had already exited' };
    }
    const began = Date.now();
    this.progress(instance.instance, `SIGTERM to pid ${record.pid}; draining (up to ${Math.round(timeoutMs / 1000)} s)`);
    signalProcess(record.pid, 'SIGTERM');
    const exited = await waitUntil(() => !isAlive(record), timeoutMs);
    let outcome: DownOutcome = 'stopped';
    if (!exited) {
      this.progress(instance.instance, `still running after ${Math.round(timeoutMs / 1000)} s: SIGKILL to its process group`);
      signalProcess(record.pid, 'SIGKILL', true);
      await waitUntil(() => !isAlive(record), 10_000);
      outcome = 'killed';
    }
    // Children in its process group (a training subprocess) do not outlive it.
    signalProcess(record.pid, 'SIGKILL', true);
    await removeRecord(instance.recordFile);
    const seconds = ((Date.now() - began) / 1000).toFixed(1);
    const detail = outcome === 'stopped' ? `exited ${seconds} s after SIGTERM` : `did not exit within ${Math.round(timeoutMs / 1000)} s of SIGTERM; killed`;
    this.progress(instance.instance, detail);
    return { ...base, outcome, pid: record.pid, detail };
  }

  // ---- status ----

  /** Whether the code of a live process changed after it started (records without a fingerprint: its program file's mtime). */
  private rebuiltSince(definition: ServiceDefinition, instance: ServiceInstance, record: ProcessRecord): boolean {
    if (!existsSync(instance.program)) return false;
    if (record.buildFingerprint === undefined) return statSync(instance.program).mtimeMs > record.programMtimeMs + 1;
    return buildFingerprint(this.config.root, definition.packageDir, instance.program) !== record.buildFingerprint;
  }

  private async statusOf(definition: ServiceDefinition, instance: ServiceInstance): Promise<InstanceStatus> {
    const service = this.serviceConfig(definition);
    const record = await readRecord(instance.recordFile);
    const base = {
      service: definition.name,
      instance: instance.instance,
      port: instance.port || undefined,
      logFile: instance.logFile,
    };
    const diskVersion = existsSync(join(this.config.root, 'packages', definition.packageDir, 'package.json')) ? packageVersion(this.config.root, definition) : '-';
    if (record) {
      const uptimeMs = Date.now() - Date.parse(record.startedAt);
      if (!isAlive(record)) {
        const last = existsSync(instance.logFile) ? lastLine(await tailFile(instance.logFile, 1)) : '';
        return {
          ...base,
          state: 'dead',
          pid: record.pid,
          version: record.version,
          uptimeMs: undefined,
          detail: `pid ${record.pid} is gone (crashed or killed)${last ? `; last log line: ${last}` : ''}; \`select services up\` starts it again`,
        };
      }
      const health = definition.health === 'grpc' ? await this.health(definition, instance) : { serving: true, detail: 'process alive (no health service)' };
      const stale = this.rebuiltSince(definition, instance, record);
      return {
        ...base,
        state: health.serving ? 'healthy' : 'unhealthy',
        pid: record.pid,
        version: record.version,
        uptimeMs,
        detail: `${health.detail}${stale ? '; rebuilt since it started (`select services up` restarts it on the new build)' : ''}`,
      };
    }
    if (definition.health === 'grpc') {
      const health = await this.health(definition, instance);
      if (health.serving) {
        return { ...base, state: 'external', pid: undefined, version: diskVersion, uptimeMs: undefined, detail: `${health.detail}, not started by select services` };
      }
    }
    if (!service.enabled) return { ...base, state: 'disabled', pid: undefined, version: diskVersion, uptimeMs: undefined, detail: 'enabled: false in the services config' };
    if (!existsSync(instance.program)) {
      return { ...base, state: 'not built', pid: undefined, version: diskVersion, uptimeMs: undefined, detail: `${relativeToRoot(this.config.root, instance.program)} does not exist` };
    }
    return { ...base, state: 'stopped', pid: undefined, version: diskVersion, uptimeMs: undefined, detail: 'not running' };
  }

  private async health(definition: ServiceDefinition, instance: ServiceInstance): Promise<{ serving: boolean; detail: string }> {
    if (definition.health === 'process') return { serving: true, detail: 'process alive (no health service)' };
    try {
      const status = await checkHealth(instance.address, { deadlineMs: 1_500 });
      return { serving: status === 'SERVING', detail: `health ${status}` };
    } catch (err) {
      const why = err instanceof GrpcCallError ? statusName(err.code) : err instanceof Error ? err.message : String(err);
      return { serving: false, detail: `no health answer at ${instance.address} (${why})` };
    }
  }

  // ---- the table ----

  private serviceConfig(definition: ServiceDefinition): ResolvedServiceConfig {
    const service = this.config.services[definition.name];
    if (!service) throw new SupervisorError(`the services config has no entry for ${definition.name}`);
    return service;
  }

  private instancesOf(definition: ServiceDefinition): ServiceInstance[] {
    const service = this.serviceConfig(definition);
    const count = definition.replicated ? service.replicas : 1;
    return Array.from({ length: count }, (_, i) => this.instance(definition, i + 1));
  }

  private instance(definition: ServiceDefinition, replica: number): ServiceInstance {
    const service = this.serviceConfig(definition);
    const name = definition.replicated ? `${definition.name}-${replica}` : definition.name;
    const port = definition.health === 'grpc' ? service.port + replica - 1 : 0;
    return {
      service: definition.name,
      instance: name,
      replica,
      port,
      address: `${reachableHost(this.config.host)}:${port}`,
      program: resolve(this.config.root, 'packages', definition.packageDir, definition.entry ?? 'dist/main.js'),
      logFile: join(this.config.logsDir, `${name}.log`),
      recordFile: join(this.config.runDir, `${name}.json`),
    };
  }

  /** The configured replicas plus any replica with a pid file beyond them (replicas lowered while it ran). */
  private async instancesIncludingLeftovers(definition: ServiceDefinition): Promise<ServiceInstance[]> {
    const instances = this.instancesOf(definition);
    if (!definition.replicated || !existsSync(this.config.runDir)) return instances;
    const pattern = new RegExp(`^${definition.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)\\.json$`);
    for (const file of await readdir(this.config.runDir)) {
      const replica = Number(pattern.exec(file)?.[1]);
      if (replica > instances.length) instances.push(this.instance(definition, replica));
    }
    return instances;
  }

  private definition(name: string): ServiceDefinition {
    const definition = this.definitions.find((d) => d.name === name);
    if (!definition) throw new SupervisorError(`no service named ${name}`);
    return definition;
  }

  private addressOf(name: string): string {
    return `${reachableHost(this.config.host)}:${this.serviceConfig(this.definition(name)).port}`;
  }

  private withDependencies(names: readonly string[]): string[] {
    const out = new Set<string>();
    const visit = (name: string): void => {
      if (out.has(name)) return;
      out.add(name);
      for (const dep of this.definitions.find((d) => d.name === name)?.dependsOn ?? []) visit(dep);
    };
    names.forEach(visit);
    return [...out];
  }

  /** The definitions grouped so that every service comes after everything it depends on. */
  private levels(): ServiceDefinition[][] {
    const depth = new Map<string, number>();
    const visiting = new Set<string>();
    const depthOf = (definition: ServiceDefinition): number => {
      const known = depth.get(definition.name);
      if (known !== undefined) return known;
      if (visiting.has(definition.name)) throw new SupervisorError(`services depend on each other in a cycle through ${definition.name}`);
      visiting.add(definition.name);
      let d = 0;
      for (const dep of definition.dependsOn) {
        const other = this.definitions.find((x) => x.name === dep);
        if (other) d = Math.max(d, depthOf(other) + 1);
      }
      visiting.delete(definition.name);
      depth.set(definition.name, d);
      return d;
    };
    const levels: ServiceDefinition[][] = [];
    for (const definition of this.definitions) (levels[depthOf(definition)] ??= []).push(definition);
    return levels.filter(Boolean);
  }
}

function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function packageVersion(root: string, definition: ServiceDefinition): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'packages', definition.packageDir, 'package.json'), 'utf8')) as { version?: string }).version ?? '-';
  } catch {
    return '-';
  }
}

function relativeToRoot(root: string, path: string): string {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

function lastLine(text: string): string {
  const line = text.trimEnd().split('\n').pop() ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** Recreates `source`'s folder tree at `target` with a symbolic link for every file. */
async function mirrorDirectory(source: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(from)).isDirectory());
    if (isDir) await mirrorDirectory(from, join(target, entry.name));
    else await symlink(from, join(target, entry.name));
  }
}

async function rotateLog(file: string): Promise<void> {
  try {
    if ((await stat(file)).size > ROTATE_LOG_BYTES) await rename(file, `${file}.1`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** The last `lines` lines of a file, read backwards in blocks (logs can be large). */
export async function tailFile(file: string, lines: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const block = 64 * 1024;
    let position = size;
    let chunks: Buffer[] = [];
    let newlines = 0;
    while (position > 0 && newlines <= lines) {
      const length = Math.min(block, position);
      position -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, position);
      chunks = [buffer, ...chunks];
      for (const byte of buffer) if (byte === 10) newlines++;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    const kept = all.slice(-lines);
    return kept.length === 0 || (kept.length === 1 && kept[0] === '') ? '' : `${kept.join('\n')}\n`;
  } finally {
    await handle.close();
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await sleep(100);
  }
  return condition();
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
