// Filter 11: per-class quotas and balancing over the whole build: a cap per class, or a target
// distribution (uniform, or given counts per wnid), filled in score order (highest first, ties by id).
import { QuotaFiller, planQuotas, type QuotaTarget } from '@select/curation-filters';
import { ServiceError } from '@select/platform';
import type { Candidate, Decision, GlobalStep, LabelSpace, StepContext, StepDefinition } from '../chain/step.js';
import { candidateKey, dropDecision } from './candidate-key.js';

export const QUOTA = 'quota';
const MODES = ['cap', 'uniform', 'counts'] as const;

export const quotaDefinition: StepDefinition = {
  name: QUOTA,
  role: 'filter',
  description:
    'Per-class quota over the whole build: a cap per class, the same count in every class (uniform), or given counts per wnid; each class is filled in score order (the score of the step that ranked the candidate last; ties by source id).',
  paperShift: '',
  poolFormats: [],
  params: {
    mode: { type: 'string', description: 'cap | uniform | counts', enum: MODES, default: 'cap' },
    perClass: { type: 'integer', description: 'cap: the most per class; uniform: the count per class (default: the smallest non-empty class)', min: 0 },
    counts: { type: 'string-list', description: 'counts mode: "<wnid>=<count>" per class; classes not listed get none' },
  },
  validate(params, env) {
    targetOf(params, env.labels);
  },
  create(params, env) {
    return new QuotaStep(params, targetOf(params, env.labels));
  },
};

function targetOf(params: Readonly<Record<string, unknown>>, labels: LabelSpace): QuotaTarget {
  const mode = params['mode'] as (typeof MODES)[number];
  const perClass = params['perClass'] as number | undefined;
  if (mode === 'cap') {
    if (perClass === undefined) throw ServiceError.invalidArgument(`${QUOTA}: mode cap needs perClass`);
    return { kind: 'cap', perClass };
  }
  if (mode === 'uniform') return perClass === undefined ? { kind: 'uniform' } : { kind: 'uniform', perClass };
  const entries = (params['counts'] as string[] | undefined) ?? [];
  if (entries.length === 0) throw ServiceError.invalidArgument(`${QUOTA}: mode counts needs counts ("<wnid>=<count>", ...)`);
  const counts = new Map<number, number>();
  for (const entry of entries) {
    const match = /^(n\d{8})=(\d+)$/.exec(entry.trim());
    if (!match) throw ServiceError.invalidArgument(`${QUOTA}: count "${entry}" is not "<wnid>=<count>" (e.g. n01440764=500)`);
    const classIndex = labels.wnids.indexOf(match[1]!);
    if (classIndex < 0) throw ServiceError.invalidArgument(`${QUOTA}: ${match[1]} is not an ImageNet-1k wnid`);
    counts.set(classIndex, Number(match[2]));
  }
  return { kind: 'counts', counts };
}

class QuotaStep implements GlobalStep {
  readonly scope = 'build' as const;
  readonly name = QUOTA;
  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly target: QuotaTarget,
  ) {}

  async run(candidates: () => AsyncIterable<Candidate>, ctx: StepContext, drop: (decision: Decision) => void): Promise<void> {
    const available = new Map<number, number>();
    for await (const c of candidates()) {
      if (c.classIndex !== undefined) available.set(c.classIndex, (available.get(c.classIndex) ?? 0) + 1);
    }
    const quotas = planQuotas(available, this.target);
    const filler = new QuotaFiller(quotas);
    for await (const c of candidates()) {
      if (c.classIndex !== undefined) filler.offer({ id: candidateKey(c), classIndex: c.classIndex, score: c.score ?? Number.NaN });
    }
    const kept = filler.keptIds();
    let dropped = 0;
    for await (const c of candidates()) {
      ctx.signal.throwIfAborted();
      if (c.classIndex === undefined) drop(dropDecision(QUOTA, c, 'no-class'));
      else if (!kept.has(candidateKey(c))) {
        drop(dropDecision(QUOTA, c, 'over-quota', c.score ?? Number.NaN));
        dropped++;
      }
    }
    ctx.logger.info({ step: QUOTA, classes: quotas.size, kept: kept.size, dropped }, 'quota filled');
  }
}
