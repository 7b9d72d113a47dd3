import { ServiceError } from '@select/platform';
import type { ParamSpec, StepDefinition } from './step.js';

/**
 * Every strategy and filter the curator knows, by name. ListStrategies, request validation and
 * `select curate strategies` read it. src/steps.ts lists what goes in: strategies 1-3 from
 * src/strategies/, strategies 4-7 and filters 8-11 from src/image/ (one spread of its exported list).
 */
export class StepRegistry {
  private readonly steps = new Map<string, StepDefinition>();

  register(definition: StepDefinition): this {
    if (this.steps.has(definition.name)) throw new Error(`step ${definition.name} is registered twice`);
    for (const [key, spec] of Object.entries(definition.params)) {
      if ('default' in spec && spec.default !== undefined) checkParam(definition.name, key, spec, spec.default);
    }
    this.steps.set(definition.name, definition);
    return this;
  }

  /** The definition, or NOT_FOUND-free INVALID_ARGUMENT naming the known steps (it comes from a request). */
  get(name: string): StepDefinition {
    const definition = this.steps.get(name);
    if (definition === undefined) {
      throw ServiceError.invalidArgument(`unknown curation step "${name}"; known: ${[...this.steps.keys()].sort().join(', ')}`);
    }
    return definition;
  }

  has(name: string): boolean {
    return this.steps.has(name);
  }

  list(role?: StepDefinition['role']): StepDefinition[] {
    return [...this.steps.values()].filter((step) => role === undefined || step.role === role);
  }

  /**
   * The step's canonical params: unknown keys refused, defaults filled in, every value type- and
   * range-checked (INVALID_ARGUMENT naming the step and the parameter). Keys come out sorted.
   */
  resolveParams(name: string, given: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const definition = this.get(name);
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(definition.params, key)) {
        throw ServiceError.invalidArgument(`step ${name} has no parameter "${key}"; it takes: ${Object.keys(definition.params).sort().join(', ') || 'none'}`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(definition.params).sort()) {
      const spec = definition.params[key] as ParamSpec;
      const value = given[key] ?? ('default' in spec ? spec.default : undefined);
      if (value === undefined) {
        if ('required' in spec && spec.required === true) throw ServiceError.invalidArgument(`step ${name} needs parameter "${key}": ${spec.description}`);
        continue;
      }
      checkParam(name, key, spec, value);
      out[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    }
    return out;
  }
}

function checkParam(step: string, key: string, spec: ParamSpec, value: unknown): void {
  const fail = (why: string): never => {
    throw ServiceError.invalidArgument(`step ${step}: parameter "${key}" ${why} (got ${JSON.stringify(value)})`);
  };
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail('must be a finite number');
      const number = value as number;
      if (spec.type === 'integer' && !Number.isSafeInteger(number)) fail('must be an integer');
      if (spec.min !== undefined) {
        const exclusive = spec.type === 'number' && spec.exclusiveMin === true;
        if (exclusive ? number <= spec.min : number < spec.min) fail(`must be ${exclusive ? '>' : '>='} ${spec.min}`);
      }
      if (spec.max !== undefined && number > spec.max) fail(`must be <= ${spec.max}`);
      return;
    }
    case 'string':
      if (typeof value !== 'string') fail('must be a string');
      if (spec.enum !== undefined && !spec.enum.includes(value as string)) fail(`must be one of ${spec.enum.join(', ')}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be true or false');
      return;
    case 'string-list':
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) fail('must be a list of strings');
      return;
  }
}
