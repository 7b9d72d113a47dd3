import { loadImageNetTaxonomy, type CaptionMatcher } from '@select/taxonomy';
import type { Candidate, ChainStep, Decision, StepContext, StepDefinition, StepResult } from '../chain/step.js';

export const SUBSTRING_MATCH = 'substring-match';

/**
 * Strategy 2 (LAIONet; with text-similarity it builds LA1000 txt2img): keep a caption only if lemmas of
 * exactly one ImageNet synset occur in it, by LAIONet's padded-substring rule over its unique-lemma
 * table (@select/taxonomy's CaptionMatcher). The class is that synset.
 */
export const substringMatchDefinition: StepDefinition = {
  name: SUBSTRING_MATCH,
  role: 'strategy',
  description:
    "LAIONet substring matching: a caption is kept only if lemmas of exactly one ImageNet synset occur in it (LAIONet's unique-lemma table over WordNet 3.0, punctuation as spaces, space-padded match, case-sensitive); the class is that synset.",
  paperShift: 'LA1000 txt2img (first stage; add text-similarity for the second)',
  poolFormats: ['openclipart', 'webdataset', 'captions-jsonl'],
  params: {
    lowercase: { type: 'boolean', description: 'lower-case captions and lemmas before matching (LAIONet did not)', default: false },
    normalizeLemmaPunctuation: {
      type: 'boolean',
      description: "give lemmas the captions' punctuation-to-space treatment, so jack-o'-lantern can match (LAIONet did not)",
      default: false,
    },
    maxCaptionChars: { type: 'integer', description: 'longer captions are dropped (reason caption-too-long)', default: 10_000, min: 1, max: 1_000_000 },
  },
  create(params) {
    return new SubstringMatchStep(params);
  },
};

class SubstringMatchStep implements ChainStep {
  readonly scope = 'task' as const;
  readonly name = SUBSTRING_MATCH;
  private readonly matcher: CaptionMatcher;
  private readonly maxChars: number;
  /** lemma -> its one synset (LAIONet's unique-lemma table). */
  private readonly wnidOf: ReadonlyMap<string, string>;
  private readonly classIndexOf = new Map<string, number>();

  constructor(readonly params: Readonly<Record<string, unknown>>) {
    this.matcher = loadImageNetTaxonomy().laionet.matcher({
      lowercase: params['lowercase'] === true,
      normalizeLemmaPunctuation: params['normalizeLemmaPunctuation'] === true,
    });
    this.maxChars = Number(params['maxCaptionChars']);
    const imagenet = loadImageNetTaxonomy();
    this.wnidOf = imagenet.laionet.lemmas;
    for (const wnid of new Set(this.wnidOf.values())) this.classIndexOf.set(wnid, imagenet.classByWnid(wnid).index);
  }

  process(batch: Candidate[], ctx: StepContext): Promise<StepResult> {
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    const drop = (candidate: Candidate, reason: string): void => {
      dropped.push({ sourceId: candidate.sourceId, step: this.name, kept: false, reason, score: Number.NaN, classIndex: -1 });
    };
    for (const candidate of batch) {
      const caption = candidate.caption ?? '';
      if (caption.trim() === '') {
        drop(candidate, 'empty-caption');
        continue;
      }
      if (caption.length > this.maxChars) {
        drop(candidate, 'caption-too-long');
        continue;
      }
      // One scan: the lemmas found (kept samples record them) name the synsets, as findSynsets would.
      const lemmas = this.matcher.findLemmas(caption);
      if (lemmas.length === 0) {
        drop(candidate, 'no-lemma');
        continue;
      }
      const wnid = this.wnidOf.get(lemmas[0]!)!;
      if (lemmas.some((lemma) => this.wnidOf.get(lemma) !== wnid)) {
        drop(candidate, 'several-synsets');
        continue;
      }
      const classIndex = this.classIndexOf.get(wnid)!;
      if (!ctx.labels.selected.has(classIndex)) {
        dropped.push({ sourceId: candidate.sourceId, step: this.name, kept: false, reason: 'class-not-selected', score: Number.NaN, classIndex });
        continue;
      }
      candidate.classIndex = classIndex;
      candidate.wnid = wnid;
      candidate.score = Number.NaN;
      candidate.metadata = candidate.metadata === undefined ? { lemmas: lemmas.join('|') } : { ...candidate.metadata, lemmas: lemmas.join('|') };
      kept.push(candidate);
    }
    return Promise.resolve({ kept, dropped });
  }
}
