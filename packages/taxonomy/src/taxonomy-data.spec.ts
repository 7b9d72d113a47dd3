import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DATA_FILE, type TaxonomyData } from './taxonomy-data.js';

const BUILDER = fileURLToPath(new URL('../../../tools/taxonomy/build_taxonomy.py', import.meta.url));
const WORDNET_DIR = '/usr/share/wordnet';
// Debian's wordnet-base, python3 and timm's wheel are all the rebuild needs; scripts/setup.sh installs them.
const timmWheel =
  process.env['SELECT_TIMM_WHEEL'] ?? fileURLToPath(new URL('../../../.work/cache/timm-1.0.31-py3-none-any.whl', import.meta.url));

function requireRebuildTools(): void {
  if (!existsSync(join(WORDNET_DIR, 'data.noun'))) {
    throw new Error(`WordNet 3.0 is missing at ${WORDNET_DIR}: install Debian's wordnet-base (scripts/setup.sh does)`);
  }
  if (spawnSync('python3', ['--version']).status !== 0) throw new Error('python3 is missing');
}

function runBuilder(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('python3', [BUILDER, '--wordnet-dir', WORDNET_DIR, ...args], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The data file without what depends on how timm's lists were supplied (their hashes and version). */
function wordnetFacts(data: TaxonomyData): TaxonomyData {
  const { timmFiles: _files, timmVersion: _version, ...provenance } = data.provenance;
  return { ...data, provenance };
}

describe('the shipped data file', () => {
  it('is what tools/taxonomy/build_taxonomy.py derives from the installed WordNet 3.0', async () => {
    requireRebuildTools();
    const shipped = JSON.parse(await readFile(DEFAULT_DATA_FILE, 'utf8')) as TaxonomyData;
    // timm's class lists, written back from the shipped file: the builder must then reproduce every
    // WordNet fact (names, lemmas, glosses, hypernym paths, ancestors, the LAIONet table) by itself.
    const dir = await mkdtemp(join(tmpdir(), 'select-taxonomy-'));
    try {
      const text = (rows: string[]): string => `${rows.join('\n')}\n`;
      const { classes, subsets } = shipped;
      const files: Record<string, string> = {
        'imagenet_synsets.txt': text(classes.map((c) => c.wnid)),
        'imagenet_synset_to_lemma.txt': text(classes.map((c) => `${c.wnid}\t${c.lemmas.map((l) => l.replaceAll('_', ' ')).join(', ')}`)),
        'imagenet_synset_to_definition.txt': text(classes.map((c) => `${c.wnid}\t${c.gloss}`)),
      };
      for (const name of ['r', 'a'] as const) {
        const subset = subsets[`imagenet-${name}`]!;
        files[`imagenet_${name}_synsets.txt`] = text(subset.wnids);
        files[`imagenet_${name}_indices.txt`] = text(subset.imagenetIndices.map(String));
      }
      for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
      const output = join(dir, 'imagenet1k.json');
      const build = runBuilder(['--timm-info', dir, '--timm-version', 'test', '--output', output]);
      expect(build.status, build.output).toBe(0);
      expect(build.output).toContain('LAIONet lemma table: 1824 lemmas, 6 synsets dropped');
      const rebuilt = JSON.parse(await readFile(output, 'utf8')) as TaxonomyData;
      expect(wordnetFacts(rebuilt)).toEqual(wordnetFacts(shipped));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // With timm's own wheel (pip download timm==1.0.31 --no-deps), the builder's --check compares bytes.
  it('is byte-identical to a fresh build from the timm wheel (SELECT_TIMM_WHEEL, default .work/cache)', () => {
    requireRebuildTools();
    if (!existsSync(timmWheel)) throw new Error(`timm's wheel is missing at ${timmWheel}: run scripts/setup.sh (pip download timm==1.0.31 --no-deps)`);
    const check = runBuilder(['--timm-wheel', timmWheel, '--check']);
    expect(check.status, check.output).toBe(0);
    expect(check.output).toContain('0 lemma-list mismatches, 0 definition mismatches');
  });
});
