import { access } from 'node:fs/promises';
import { loadClassDescriptions } from '@select/datasets';
import { ServiceError } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { BuildOutputs, Candidate, ChainStep, Decision, LabelMappingRow, StepContext, StepDefinition, StepResult, TaskStats } from '../chain/step.js';
import { mapLabels, readOpenImagesHierarchy, type LabelMappingEntry, type MappingPolicy } from './label-mapping.js';
import { DEFAULT_WORDNET_DIR, WordNetNouns } from './wordnet-nouns.js';

export const SCHEMA_MAPPING = 'schema-mapping';

/**
 * Strategy 1 (OI1000): OpenImages image-level labels mapped to ImageNet classes through WordNet 3.0
 * (label-mapping.ts has the rules). Per image: the labels at or above `minConfidence` that map to a
 * selected class; `multiClass` says what happens when they map to more than one class.
 */
export const schemaMappingDefinition: StepDefinition = {
  name: SCHEMA_MAPPING,
  role: 'strategy',
  description:
    'OpenImages schema mapping: each image-level label (human- and machine-verified files merged) is mapped to an ImageNet synset through WordNet 3.0 (exact lemma, normalised lemma, then WordNet senses with a configurable hypernym/hyponym policy, then the OpenImages hierarchy); an image goes to the class(es) its labels map to. Writes the mapping table and the unmapped labels.',
  paperShift: 'OI1000',
  poolFormats: ['openimages'],
  params: {
    match: { type: 'string', description: 'lemma matching: exact, or normalized (case, plural, punctuation, spaces/underscores)', default: 'normalized', enum: ['exact', 'normalized'] },
    hypernym: { type: 'string', description: 'a label below a class in WordNet maps to the nearest class (nearest-class) or not (none)', default: 'nearest-class', enum: ['nearest-class', 'none'] },
    hyponym: { type: 'string', description: 'a label above classes maps when exactly one class is under it (unique) or never (none)', default: 'unique', enum: ['unique', 'none'] },
    openImagesParent: { type: 'boolean', description: "an unmapped label takes its nearest mapped OpenImages ancestor's class", default: true },
    senses: { type: 'string', description: 'WordNet senses of a name tried: first (most frequent) or all (in order)', default: 'first', enum: ['first', 'all'] },
    minConfidence: { type: 'number', description: 'labels below this confidence are ignored (OpenImages: 0 = verified absent)', default: 0.5, min: 0, max: 1 },
    multiClass: {
      type: 'string',
      description: "an image whose labels map to several classes: every-class (it sits in each class's folder, as in OI1000), drop, or most-confident",
      default: 'every-class',
      enum: ['every-class', 'drop', 'most-confident'],
    },
    labels: { type: 'string-list', description: 'use only these MIDs (empty: all); an unknown MID is refused', default: [] },
    wordnetDir: { type: 'string', description: "WordNet 3.0 database (Debian's wordnet-base)", default: DEFAULT_WORDNET_DIR },
  },
  async validate(params, env) {
    if (env.pool.format !== 'openimages') throw ServiceError.invalidArgument(`schema-mapping reads openimages pools, not ${env.pool.format}`);
    if (env.pool.classDescriptionsUri === '') throw ServiceError.invalidArgument('schema-mapping needs pool.class_descriptions_uri (the MID -> display name CSV)');
    for (const file of [env.pool.classDescriptionsUri, env.pool.hierarchyUri, `${String(params['wordnetDir'])}/data.noun`].filter((f) => f !== '')) {
      await access(file).catch(() => {
        throw ServiceError.invalidArgument(`schema-mapping: ${file} does not exist or cannot be read`);
      });
    }
    const names = await loadClassDescriptions(env.pool.classDescriptionsUri);
    const unknown = (params['labels'] as string[]).filter((mid) => !names.has(mid));
    if (unknown.length > 0) throw ServiceError.invalidArgument(`schema-mapping: unknown MID(s) ${unknown.slice(0, 10).join(', ')} (not in ${env.pool.classDescriptionsUri})`);
  },
  async create(params, env) {
    const names = await loadClassDescriptions(env.pool.classDescriptionsUri);
    const hierarchy = env.pool.hierarchyUri === '' ? undefined : await readOpenImagesHierarchy(env.pool.hierarchyUri);
    const policy: MappingPolicy = {
      match: params['match'] as MappingPolicy['match'],
      hypernym: params['hypernym'] as MappingPolicy['hypernym'],
      hyponym: params['hyponym'] as MappingPolicy['hyponym'],
      openImagesParent: params['openImagesParent'] === true,
      senses: params['senses'] as MappingPolicy['senses'],
    };
    const table = mapLabels(names, loadImageNetTaxonomy(), WordNetNouns.load(String(params['wordnetDir'])), policy, hierarchy);
    return new SchemaMappingStep(params, table);
  },
};

class SchemaMappingStep implements ChainStep {
  readonly scope = 'task' as const;
  readonly name = SCHEMA_MAPPING;
  private labelImages = new Map<string, number>();
  private readonly only: ReadonlySet<string> | undefined;
  private readonly minConfidence: number;
  private readonly multiClass: string;

  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly table: ReadonlyMap<string, LabelMappingEntry>,
  ) {
    const labels = params['labels'] as string[];
    this.only = labels.length === 0 ? undefined : new Set(labels);
    this.minConfidence = Number(params['minConfidence']);
    this.multiClass = String(params['multiClass']);
  }

  process(batch: Candidate[], ctx: StepContext): Promise<StepResult> {
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    const imagenet = loadImageNetTaxonomy();
    for (const candidate of batch) {
      const drop = (reason: string, score = Number.NaN, classIndex = -1): void => {
        dropped.push({ sourceId: candidate.sourceId, step: this.name, kept: false, reason, score, classIndex });
      };
      const positive = (candidate.labels ?? []).filter((l) => l.confidence >= this.minConfidence && (this.only === undefined || this.only.has(l.id)));
      for (const label of new Set(positive.map((l) => l.id))) this.labelImages.set(label, (this.labelImages.get(label) ?? 0) + 1);
      if (positive.length === 0) {
        drop('no-positive-label');
        continue;
      }
      // Best label per class: highest confidence, then the smaller MID (deterministic).
      const byClass = new Map<number, { id: string; confidence: number; source: string | undefined }>();
      let outsideSelection = false;
      for (const label of positive) {
        const entry = this.table.get(label.id);
        if (entry === undefined || entry.classIndex < 0) continue;
        if (!ctx.labels.selected.has(entry.classIndex)) {
          outsideSelection = true;
          continue;
        }
        const best = byClass.get(entry.classIndex);
        if (best === undefined || label.confidence > best.confidence || (label.confidence === best.confidence && label.id < best.id)) {
          byClass.set(entry.classIndex, { id: label.id, confidence: label.confidence, source: label.source });
        }
      }
      if (byClass.size === 0) {
        drop(outsideSelection ? 'class-not-selected' : 'no-mapped-label');
        continue;
      }
      let chosen = [...byClass.entries()].sort((a, b) => a[0] - b[0]);
      if (chosen.length > 1 && this.multiClass === 'drop') {
        drop('several-classes');
        continue;
      }
      if (chosen.length > 1 && this.multiClass === 'most-confident') {
        chosen = [chosen.reduce((best, next) => (next[1].confidence > best[1].confidence ? next : best))];
      }
      for (const [classIndex, label] of chosen) {
        const wnid = imagenet.classByIndex(classIndex).wnid;
        const entry = this.table.get(label.id)!;
        kept.push({
          ...candidate,
          // An image in several classes is one sample per class: the class is part of its id.
          sourceId: chosen.length > 1 ? `${candidate.sourceId}:${wnid}` : candidate.sourceId,
          classIndex,
          wnid,
          score: label.confidence,
          metadata: {
            ...candidate.metadata,
            label: label.id,
            label_name: entry.name,
            rule: entry.rule,
            source: `openimages:${label.source ?? 'unknown'}`,
          },
        });
      }
    }
    return Promise.resolve({ kept, dropped });
  }

  finishTask(): Promise<TaskStats> {
    const stats = { labelImages: Object.fromEntries(this.labelImages) };
    this.labelImages = new Map();
    return Promise.resolve(stats);
  }

  finishBuild(stats: readonly TaskStats[]): Promise<BuildOutputs> {
    const images = new Map<string, number>();
    for (const task of stats) {
      for (const [label, count] of Object.entries((task['labelImages'] ?? {}) as Record<string, number>)) images.set(label, (images.get(label) ?? 0) + count);
    }
    const rows: LabelMappingRow[] = [...this.table.values()]
      .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
      .map((e) => ({ label: e.label, name: e.name, wnid: e.wnid, classIndex: e.classIndex, rule: e.rule, synset: e.synset, images: images.get(e.label) ?? 0 }));
    const csv = (fields: Array<string | number>): string => fields.map((f) => (/[",\n]/.test(String(f)) ? `"${String(f).replace(/"/g, '""')}"` : String(f))).join(',');
    const mapping = ['LabelName,DisplayName,wnid,class_index,rule,synset,images', ...rows.filter((r) => r.rule !== 'unmapped').map((r) => csv([r.label, r.name, r.wnid, r.classIndex, r.rule, r.synset, r.images]))];
    const unmapped = [
      'LabelName,DisplayName,why,synset,images',
      ...[...this.table.values()]
        .filter((e) => e.rule === 'unmapped')
        .sort((a, b) => (images.get(b.label) ?? 0) - (images.get(a.label) ?? 0) || (a.label < b.label ? -1 : 1))
        .map((e) => csv([e.label, e.name, e.why, e.synset, images.get(e.label) ?? 0])),
    ];
    return Promise.resolve({
      files: { 'label_mapping.csv': `${mapping.join('\n')}\n`, 'unmapped_labels.csv': `${unmapped.join('\n')}\n` },
      labelMappings: rows,
    });
  }
}
