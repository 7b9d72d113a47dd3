import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's wordnet-base installs WordNet 3.0's database here. */
export const DEFAULT_WORDNET_DIR = '/usr/share/wordnet';

export interface NounSynset {
  /** `n` + the 8-digit offset, the ImageNet wnid form. */
  wnid: string;
  /** Lemmas as WordNet writes them (`Canis_familiaris`). */
  lemmas: string[];
  /** Direct hypernyms and instance hypernyms, as wnids. */
  hypernyms: string[];
}

/**
 * WordNet 3.0's noun database (data.noun, index.noun, noun.exc): lemma -> synsets in sense order and
 * each synset's hypernyms. The ImageNet taxonomy only knows the 1000 classes and their ancestors;
 * schema mapping needs every noun, because a foreign label (OpenImages "Pembroke Welsh Corgi",
 * "Chihuahua", "Goldfish") may name a synset at, above or below a class.
 */
export class WordNetNouns {
  private constructor(
    private readonly synsets: Map<string, NounSynset>,
    private readonly senses: Map<string, string[]>,
    private readonly exceptions: Map<string, string[]>,
  ) {}

  private static cache = new Map<string, WordNetNouns>();

  /** Reads the database once per directory and process (about a second for the 15 MB data.noun). */
  static load(dir = DEFAULT_WORDNET_DIR): WordNetNouns {
    const cached = WordNetNouns.cache.get(dir);
    if (cached !== undefined) return cached;
    const synsets = new Map<string, NounSynset>();
    for (const line of readFileSync(join(dir, 'data.noun'), 'latin1').split('\n')) {
      if (line === '' || line.startsWith(' ')) continue;
      const fields = line.slice(0, line.indexOf(' | ') === -1 ? line.length : line.indexOf(' | ')).split(' ');
      const offset = fields[0] ?? '';
      const wordCount = Number.parseInt(fields[3] ?? '0', 16);
      const lemmas: string[] = [];
      let at = 4;
      for (let i = 0; i < wordCount; i++, at += 2) lemmas.push((fields[at] ?? '').replace(/\(.*\)$/, ''));
      const pointerCount = Number(fields[at] ?? '0');
      at++;
      const hypernyms: string[] = [];
      for (let i = 0; i < pointerCount; i++, at += 4) {
        const symbol = fields[at];
        if ((symbol === '@' || symbol === '@i') && fields[at + 2] === 'n') hypernyms.push(`n${fields[at + 1] ?? ''}`);
      }
      synsets.set(`n${offset}`, { wnid: `n${offset}`, lemmas, hypernyms });
    }
    const senses = new Map<string, string[]>();
    for (const line of readFileSync(join(dir, 'index.noun'), 'latin1').split('\n')) {
      if (line === '' || line.startsWith(' ')) continue;
      const fields = line.trim().split(' ');
      const lemma = fields[0] ?? '';
      const synsetCount = Number(fields[2] ?? '0');
      senses.set(
        lemma,
        fields.slice(fields.length - synsetCount).map((offset) => `n${offset}`),
      );
    }
    const exceptions = new Map<string, string[]>();
    for (const line of readFileSync(join(dir, 'noun.exc'), 'latin1').split('\n')) {
      const [inflected, ...bases] = line.trim().split(' ');
      if (inflected !== undefined && inflected !== '' && bases.length > 0) exceptions.set(inflected, bases);
    }
    const loaded = new WordNetNouns(synsets, senses, exceptions);
    WordNetNouns.cache.set(dir, loaded);
    return loaded;
  }

  synset(wnid: string): NounSynset | undefined {
    return this.synsets.get(wnid);
  }

  /**
   * Noun synsets of a word or phrase in WordNet's sense order (most frequent first), with morphy's
   * base forms: the word as given (lower case, spaces as underscores), else its exception-list base,
   * else the regular plural suffix rules (-s, -ses, -xes, -zes, -ches, -shes, -men, -ies).
   */
  lookup(text: string): { form: string; wnids: string[] } | undefined {
    const form = text.trim().toLowerCase().replace(/[\s-]+/g, '_');
    if (form === '') return undefined;
    for (const candidate of this.baseForms(form)) {
      const wnids = this.senses.get(candidate);
      if (wnids !== undefined) return { form: candidate, wnids };
    }
    return undefined;
  }

  /** The NLTK-style name (`dog.n.01`): first lemma, lower case, and its sense number for that lemma. */
  nltkName(wnid: string): string {
    const synset = this.synsets.get(wnid);
    const lemma = (synset?.lemmas[0] ?? wnid).toLowerCase();
    const sense = (this.senses.get(lemma)?.indexOf(wnid) ?? -1) + 1;
    return `${lemma}.n.${String(Math.max(sense, 1)).padStart(2, '0')}`;
  }

  private *baseForms(form: string): Generator<string> {
    yield form;
    // Morphy works on the last word of a collocation ("sports_cars" -> "sports_car").
    const cut = form.lastIndexOf('_');
    const head = form.slice(0, cut + 1);
    const last = form.slice(cut + 1);
    for (const base of this.exceptions.get(last) ?? []) yield head + base;
    const rules: Array<[string, string]> = [
      ['s', ''],
      ['ses', 's'],
      ['xes', 'x'],
      ['zes', 'z'],
      ['ches', 'ch'],
      ['shes', 'sh'],
      ['men', 'man'],
      ['ies', 'y'],
    ];
    for (const [suffix, replacement] of rules) {
      if (last.endsWith(suffix) && last.length > suffix.length) yield head + last.slice(0, -suffix.length) + replacement;
    }
  }
}
