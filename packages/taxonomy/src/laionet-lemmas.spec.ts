import { describe, expect, it } from 'vitest';
import { buildLaionetLemmaTable } from './laionet-lemmas.js';
import { loadImageNetTaxonomy } from './load-taxonomy.js';

const taxonomy = loadImageNetTaxonomy();

/** LAIONet's rule written out again from the raw WordNet lemmas, sharing no code with the package. */
function expectedTable(): { lemmas: Map<string, string>; dropped: string[] } {
  const count = new Map<string, number>();
  for (const cls of taxonomy.classes) {
    // A synset lists each lemma once, so counting occurrences counts owning synsets.
    for (const lemma of cls.lemmas) {
      const text = lemma.split('_').join(' ');
      count.set(text, (count.get(text) ?? 0) + 1);
    }
  }
  const lemmas = new Map<string, string>();
  const dropped: string[] = [];
  for (const cls of taxonomy.classes) {
    const kept = cls.lemmas.map((l) => l.split('_').join(' ')).filter((t) => count.get(t) === 1);
    kept.forEach((t) => lemmas.set(t, cls.wnid));
    if (kept.length === 0) dropped.push(cls.wnid);
  }
  return { lemmas, dropped };
}

describe("LAIONet's lemma table", () => {
  it('keeps exactly the lemmas that one synset alone has, and drops the synsets left with none', () => {
    const expected = expectedTable();
    const table = taxonomy.laionet;
    expect(table.size).toBe(expected.lemmas.size);
    expect([...table.lemmas]).toEqual([...expected.lemmas]);
    expect(table.droppedWnids).toEqual(expected.dropped);
  });

  it('has 1824 lemmas and drops 6 synsets: partridge, both cranes, harp, maillot and missile', () => {
    expect(taxonomy.laionet.size).toBe(1824);
    expect(taxonomy.laionet.droppedWnids.map((w) => taxonomy.classByWnid(w).label)).toEqual([
      'partridge',
      'crane',
      'crane',
      'harp',
      'maillot',
      'missile',
    ]);
    // A shared lemma leaves the table but the synset survives through its other lemmas.
    expect(taxonomy.laionet.lemmas.has('panda')).toBe(false);
    expect(taxonomy.laionet.lemmas.get('giant panda')).toBe('n02510455');
    expect(taxonomy.laionet.lemmas.get('lesser panda')).toBe('n02509815');
  });

  it('is what buildLaionetLemmaTable derives from the classes', () => {
    const rebuilt = buildLaionetLemmaTable(taxonomy.classes);
    expect([...rebuilt.lemmas]).toEqual([...taxonomy.laionet.lemmas]);
    expect(rebuilt.droppedWnids).toEqual(taxonomy.laionet.droppedWnids);
  });

  it('applies the same rule to a smaller class set, where fewer lemmas collide', () => {
    const cranes = ['n02012849', 'n03126707'].map((w) => taxonomy.classByWnid(w));
    expect(buildLaionetLemmaTable(cranes.slice(0, 1)).lemmas).toEqual(new Map([['crane', 'n02012849']]));
    expect(buildLaionetLemmaTable(cranes).droppedWnids).toEqual(['n02012849', 'n03126707']);
  });
});
