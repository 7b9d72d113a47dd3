import { describe, expect, it } from 'vitest';
import { TaxonomyError } from './errors.js';
import { loadImageNetTaxonomy } from './load-taxonomy.js';

const taxonomy = loadImageNetTaxonomy();

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof TaxonomyError ? err.code : `not a TaxonomyError: ${String(err)}`;
  }
  return undefined;
}

describe('ImageNet-1k classes', () => {
  it('has the 1000 ILSVRC-2012 synsets in the sorted-wnid order of torchvision and timm', () => {
    expect(taxonomy.size).toBe(1000);
    const wnids = taxonomy.classes.map((c) => c.wnid);
    expect(new Set(wnids).size).toBe(1000);
    expect(wnids).toEqual([...wnids].sort());
    expect(taxonomy.classes.every((c, i) => c.index === i && /^n\d{8}$/.test(c.wnid))).toBe(true);
    expect(taxonomy.classByIndex(0)).toMatchObject({ wnid: 'n01440764', label: 'tench', wordnetName: 'tench.n.01' });
    expect(taxonomy.classByIndex(999)).toMatchObject({ wnid: 'n15075141', label: 'toilet tissue' });
    // Indices every ImageNet user knows by heart.
    expect(taxonomy.classByIndex(207).label).toBe('golden retriever');
    expect(taxonomy.classByIndex(281).label).toBe('tabby');
  });

  it("carries WordNet 3.0's lemmas and definition, without the gloss's usage examples", () => {
    const tench = taxonomy.classByWnid('n01440764');
    expect(tench.lemmas).toEqual(['tench', 'Tinca_tinca']);
    expect(tench.lemmaTexts).toEqual(['tench', 'Tinca tinca']);
    // data.noun 01440764: "| freshwater dace-like game fish of Europe and western Asia noted for ..."
    expect(tench.gloss).toBe(
      'freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water',
    );
    // data.noun 03028079's gloss ends with the example "the church was empty".
    expect(taxonomy.classByWnid('n03028079').gloss).toBe('a place for public (especially Christian) worship');
    expect(taxonomy.classByWnid('n02457408').lemmaTexts).toEqual(['three-toed sloth', 'ai', 'Bradypus tridactylus']);
  });

  it('records that its WordNet copy agrees with the class lists timm ships', () => {
    const crossCheck = taxonomy.provenance['crossCheck'] as Record<string, unknown[]>;
    expect(crossCheck['lemmaMismatches']).toEqual([]);
    expect(crossCheck['definitionMismatches']).toEqual([]);
  });

  it('rejects unknown wnids and out-of-range indices with a TaxonomyError code', () => {
    expect(errorCode(() => taxonomy.classByWnid('n99999999'))).toBe('UNKNOWN_WNID');
    expect(errorCode(() => taxonomy.classByWnid('n02084071'))).toBe('UNKNOWN_WNID'); // dog.n.01: an ancestor, not a class
    expect(() => taxonomy.classByWnid('tench')).toThrow(/"n" followed by 8 digits/);
    for (const bad of [-1, 1000, 1.5, Number.NaN]) {
      expect(errorCode(() => taxonomy.classByIndex(bad))).toBe('INDEX_OUT_OF_RANGE');
    }
    expect(taxonomy.hasClass('n01440764')).toBe(true);
    expect(taxonomy.hasClass('n02084071')).toBe(false);
  });
});

describe('lemma lookups', () => {
  it('finds classes by exact lemma, with underscores or spaces', () => {
    expect(taxonomy.classesByLemma('Tinca tinca').map((c) => c.index)).toEqual([0]);
    expect(taxonomy.classesByLemma('Tinca_tinca').map((c) => c.index)).toEqual([0]);
    expect(taxonomy.classesByLemma('tinca tinca')).toEqual([]);
    // Two classes share "crane": the bird and the machine.
    expect(taxonomy.classesByLemma('crane').map((c) => c.wnid)).toEqual(['n02012849', 'n03126707']);
  });

  it('finds classes by normalised lemma: case, hyphens, underscores and extra spaces ignored', () => {
    expect(taxonomy.classesByLemma('  TINCA   tinca ', { match: 'normalized' }).map((c) => c.index)).toEqual([0]);
    expect(taxonomy.classesByLemma('three toed sloth', { match: 'normalized' }).map((c) => c.wnid)).toEqual([
      'n02457408',
    ]);
    // "Cardigan" (the corgi) and "cardigan" (the jacket) only collide once case is ignored.
    expect(taxonomy.classesByLemma('cardigan').map((c) => c.wnid)).toEqual(['n02963159']);
    expect(taxonomy.classesByLemma('cardigan', { match: 'normalized' }).map((c) => c.wnid)).toEqual([
      'n02113186',
      'n02963159',
    ]);
  });
});

describe('descendantsOf', () => {
  it('maps dog.n.01 to the 118 dog classes, by wnid, NLTK name or lemma', () => {
    const dogs = taxonomy.descendantsOf('n02084071');
    expect(dogs).toHaveLength(118);
    expect(dogs.map((c) => c.index)).toEqual(Array.from({ length: 118 }, (_, i) => 151 + i));
    expect(taxonomy.descendantsOf('dog.n.01')).toEqual(dogs);
    expect(taxonomy.descendantsOf('dog')).toEqual(dogs);
    expect(taxonomy.descendantsOf('Domestic dog')).toEqual(dogs); // lemma "domestic_dog", normalised
  });

  it('maps domestic_cat.n.01 to the five house-cat classes and a class to itself', () => {
    expect(taxonomy.descendantsOf('domestic_cat.n.01').map((c) => c.label)).toEqual([
      'tabby',
      'tiger cat',
      'Persian cat',
      'Siamese cat',
      'Egyptian cat',
    ]);
    expect(taxonomy.descendantsOf('n01440764').map((c) => c.index)).toEqual([0]);
    expect(taxonomy.descendantsOf('entity.n.01')).toHaveLength(1000);
  });

  it('says why a reference cannot be resolved', () => {
    expect(errorCode(() => taxonomy.descendantsOf('n00000000'))).toBe('UNKNOWN_SYNSET');
    expect(errorCode(() => taxonomy.descendantsOf('dog.n.07'))).toBe('UNKNOWN_SYNSET');
    expect(errorCode(() => taxonomy.descendantsOf('unicorn'))).toBe('UNKNOWN_SYNSET');
    expect(errorCode(() => taxonomy.descendantsOf('crane'))).toBe('AMBIGUOUS_LEMMA');
    expect(() => taxonomy.descendantsOf('crane')).toThrow(/crane\.n\.05 \(n02012849\).*crane\.n\.04 \(n03126707\)/);
  });
});

describe('hypernym paths', () => {
  it('gives every WordNet path of a class, root first, ending with the class', () => {
    const paths = taxonomy.hypernymPaths('golden retriever').map((p) => p.map((s) => s.wordnetName));
    expect(paths).toHaveLength(2); // via carnivore.n.01 and via domestic_animal.n.01, as in NLTK
    for (const path of paths) {
      expect(path[0]).toBe('entity.n.01');
      expect(path.at(-1)).toBe('golden_retriever.n.01');
      expect(path).toContain('dog.n.01');
    }
    expect(paths.some((p) => p.includes('domestic_animal.n.01'))).toBe(true);
    expect(taxonomy.classByIndex(207).hypernymPaths.map((p) => p.length)).toEqual(paths.map((p) => p.length));
  });

  it("gives an ancestor's paths as the distinct prefixes of its descendants' paths", () => {
    const paths = taxonomy.hypernymPaths('n02084071').map((p) => p.map((s) => s.wordnetName));
    expect(paths).toEqual([
      [
        'entity.n.01',
        'physical_entity.n.01',
        'object.n.01',
        'whole.n.02',
        'living_thing.n.01',
        'organism.n.01',
        'animal.n.01',
        'chordate.n.01',
        'vertebrate.n.01',
        'mammal.n.01',
        'placental.n.01',
        'carnivore.n.01',
        'canine.n.02',
        'dog.n.01',
      ],
      [
        'entity.n.01',
        'physical_entity.n.01',
        'object.n.01',
        'whole.n.02',
        'living_thing.n.01',
        'organism.n.01',
        'animal.n.01',
        'domestic_animal.n.01',
        'dog.n.01',
      ],
    ]);
    expect(taxonomy.synset('n02084071')).toMatchObject({ isClass: false, label: 'dog' });
    expect(taxonomy.root.wordnetName).toBe('entity.n.01');
  });
});

describe('ImageNet-R and ImageNet-A subsets', () => {
  for (const [name, firstIndices] of [
    ['imagenet-r', [1, 2, 4]],
    ['imagenet-a', [6, 11, 13]],
  ] as const) {
    it(`${name} has 200 classes whose positions map to 1k indices and back`, () => {
      const subset = taxonomy.subset(name);
      expect(subset.size).toBe(200);
      expect(subset.imagenetIndices.slice(0, 3)).toEqual(firstIndices);
      subset.wnids.forEach((wnid, position) => {
        const index = subset.toImageNetIndex(position);
        expect(taxonomy.classByIndex(index).wnid).toBe(wnid);
        expect(subset.positionOf(index)).toBe(position);
      });
      const outside = taxonomy.classes.filter((c) => !subset.has(c.index));
      expect(outside).toHaveLength(800);
      expect(outside.every((c) => subset.positionOf(c.index) === undefined)).toBe(true);
      expect(errorCode(() => subset.toImageNetIndex(200))).toBe('INDEX_OUT_OF_RANGE');
    });
  }

  it('rejects a subset name it does not know', () => {
    expect(errorCode(() => taxonomy.subset('objectnet' as 'imagenet-r'))).toBe('UNKNOWN_SUBSET');
  });
});

describe('loading', () => {
  it('reports a missing or foreign data file with a code', () => {
    expect(errorCode(() => loadImageNetTaxonomy({ dataFile: '/nonexistent/imagenet1k.json' }))).toBe(
      'DATA_UNREADABLE',
    );
    expect(errorCode(() => loadImageNetTaxonomy({ dataFile: new URL('../package.json', import.meta.url) }))).toBe(
      'DATA_INVALID',
    );
  });

  it('reads the data file once per process', () => {
    expect(loadImageNetTaxonomy()).toBe(taxonomy);
  });
});
