// Schema mapping's rules on real WordNet 3.0 (Debian wordnet-base) and the real ImageNet taxonomy.
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { describe, expect, it } from 'vitest';
import { mapLabels, type MappingPolicy } from './label-mapping.js';
import { WordNetNouns } from './wordnet-nouns.js';

const DEFAULT: MappingPolicy = { match: 'normalized', hypernym: 'nearest-class', hyponym: 'unique', openImagesParent: true, senses: 'first' };
const imagenet = loadImageNetTaxonomy();
const wordnet = WordNetNouns.load();

function map(names: string[], policy: Partial<MappingPolicy> = {}, hierarchy?: Map<string, Set<string>>) {
  const table = mapLabels(new Map(names.map((n, i) => [`/m/${i}`, n])), imagenet, wordnet, { ...DEFAULT, ...policy }, hierarchy);
  return new Map([...table.values()].map((e) => [e.name, e]));
}

describe('mapLabels (OpenImages display names -> ImageNet classes through WordNet 3.0)', () => {
  it('applies exact, normalized, synset, hyponym and hypernym rules and says why a label stays unmapped', () => {
    const m = map(['Granny Smith', 'Goldfish', 'Jeans', 'Jaguar (Animal)', 'Hamburger', 'Penguin', 'Lion cub', 'Dog', 'Panda', 'Tree', 'Stop sign']);
    const rule = (name: string) => [m.get(name)?.rule, m.get(name)?.wnid];
    expect(rule('Granny Smith')).toEqual(['exact-lemma', 'n07742313']);
    expect(rule('Goldfish')).toEqual(['normalized-lemma', 'n01443537']);
    expect(rule('Jeans')).toEqual(['normalized-lemma', 'n03594734']); // plural folded by morphy
    expect(rule('Jaguar (Animal)')).toEqual(['normalized-lemma', 'n02128925']); // qualifier dropped
    expect(rule('Hamburger')).toEqual(['hyponym-unique', 'n07697313']); // only cheeseburger lies under it
    expect(rule('Penguin')).toEqual(['hyponym-unique', 'n02056570']); // king penguin
    expect(rule('Lion cub')).toEqual(['hypernym', 'n02129165']); // a kind of lion
    expect(m.get('Dog')).toMatchObject({ rule: 'unmapped', why: 'above-118-classes (dog.n.01)', synset: 'dog.n.01' });
    expect(m.get('Panda')).toMatchObject({ rule: 'unmapped', why: 'ambiguous-lemma: n02509815 n02510455' });
    expect(m.get('Tree')).toMatchObject({ rule: 'unmapped', why: 'no-class-related (tree.n.01)' });
    expect(m.get('Stop sign')).toMatchObject({ rule: 'unmapped', why: 'no-synset' });
  });

  it('follows the configured policy', () => {
    expect(map(['Goldfish'], { match: 'exact' }).get('Goldfish')?.rule).toBe('synset-class'); // case differs; WordNet's sense is the class
    expect(map(['Hamburger'], { hyponym: 'none' }).get('Hamburger')?.rule).toBe('unmapped');
    expect(map(['Lion cub'], { hypernym: 'none' }).get('Lion cub')?.rule).toBe('unmapped');
    // "Lobster": the first sense is the food (no class); all senses reach the crustacean, above two classes.
    expect(map(['Lobster']).get('Lobster')?.why).toBe('no-class-related (lobster.n.01)');
    expect(map(['Lobster'], { senses: 'all' }).get('Lobster')?.why).toBe('no-class-related (lobster.n.01)');
  });

  it('an unmapped label takes its nearest mapped OpenImages ancestor (openImagesParent)', () => {
    const hierarchy = new Map([['/m/1', new Set(['/m/0'])]]);
    const m = map(['Goldfish', 'Fancy goldfish'], {}, hierarchy);
    expect(m.get('Fancy goldfish')).toMatchObject({ rule: 'openimages-parent', wnid: 'n01443537' });
    expect(map(['Goldfish', 'Fancy goldfish'], { openImagesParent: false }, hierarchy).get('Fancy goldfish')?.rule).toBe('unmapped');
    // A parent mapped only by a guess passes nothing down: "Plant" is first of all an industrial plant,
    // and the one class under that is lumbermill.
    const plant = map(['Plant', 'Tree'], {}, new Map([['/m/1', new Set(['/m/0'])]]));
    expect(plant.get('Plant')).toMatchObject({ rule: 'hyponym-unique', wnid: 'n03697007' });
    expect(plant.get('Tree')).toMatchObject({ rule: 'unmapped', why: 'no-class-related (tree.n.01)' });
  });
});
