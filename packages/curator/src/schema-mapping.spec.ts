// Strategy 1 end to end: an OpenImages-format pool written by tools/openimages/make_pool.mjs (official
// file formats, human + machine label files), built through the curator, workers, sink and ClickHouse.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClassDescriptions } from '@select/datasets';
import { sql } from '@select/metrics';
import { unary, type GenericServiceClient } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';
import { mapLabels, readOpenImagesHierarchy } from './strategies/label-mapping.js';
import { WordNetNouns } from './strategies/wordnet-nouns.js';

const MAKE_POOL = fileURLToPath(new URL('../../../tools/openimages/make_pool.mjs', import.meta.url));
const IMAGES = 120;

describe('schema mapping (strategy 1, OI1000) over an OpenImages-format pool', () => {
  let kit: CurationKit;
  let client: GenericServiceClient;
  let pool: string;

  beforeAll(async () => {
    kit = await startCurationKit('oi');
    pool = join(kit.dir, 'openimages');
    execFileSync(process.execPath, [MAKE_POOL, '--out', pool, '--images', String(IMAGES), '--seed', '11']);
    ({ client } = await kit.startCurator({ localWorkers: 1 }));
  });
  afterAll(() => kit?.cleanup());

  const poolSpec = () => ({
    format: 'openimages',
    uri: pool,
    labelUris: [join(pool, 'oidv7-train-annotations-human-imagelabels.csv'), join(pool, 'oidv7-train-annotations-machine-imagelabels.csv')],
    classDescriptionsUri: join(pool, 'oidv7-class-descriptions.csv'),
    hierarchyUri: join(pool, 'bbox_labels_600_hierarchy.json'),
    imagesUri: join(pool, 'train'),
  });

  it('maps labels through WordNet, puts images in every class they map to, writes the mapping table and the unmapped labels to the shift and ClickHouse', async () => {
    // The oracle: the mapping rules (unit-tested on their own) applied straight to the pool's files.
    const names = await loadClassDescriptions(join(pool, 'oidv7-class-descriptions.csv'));
    const table = mapLabels(names, loadImageNetTaxonomy(), WordNetNouns.load(), { match: 'normalized', hypernym: 'nearest-class', hyponym: 'unique', openImagesParent: true, senses: 'first' }, await readOpenImagesHierarchy(join(pool, 'bbox_labels_600_hierarchy.json')));
    const labels = new Map<string, Map<string, number>>();
    const malformed = new Set<string>();
    for (const file of poolSpec().labelUris) {
      for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
        const [id, , mid, confidence] = line.split(',') as [string, string, string, string];
        if (confidence === '') malformed.add(id);
        const perImage = labels.get(id) ?? new Map<string, number>();
        perImage.set(mid, Math.max(perImage.get(mid) ?? 0, Number(confidence)));
        labels.set(id, perImage);
      }
    }
    const expectedPerClass = new Map<string, number>();
    let expectedSamples = 0;
    let missingJpeg = 0;
    for (const [id, perImage] of labels) {
      if (malformed.has(id)) continue;
      const classes = new Set([...perImage].filter(([, c]) => c >= 0.5).map(([mid]) => table.get(mid)?.wnid ?? '').filter((w) => w !== ''));
      let hasJpeg = true;
      try {
        readFileSync(join(pool, 'train', `${id}.jpg`));
      } catch {
        hasJpeg = false;
      }
      if (!hasJpeg) {
        missingJpeg++;
        continue;
      }
      for (const wnid of classes) expectedPerClass.set(wnid, (expectedPerClass.get(wnid) ?? 0) + 1);
      expectedSamples += classes.size;
    }
    expect(missingJpeg).toBe(1);
    expect(expectedSamples).toBeGreaterThan(40);

    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'oi-demo',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: poolSpec(),
      steps: [{ name: 'schema-mapping', paramsJson: '{}' }],
      taskSize: 25,
    });
    const job = await waitForJob(client, started.jobId);
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');
    expect(job.message).toMatch(new RegExp(`^${expectedSamples} samples in ${expectedPerClass.size} classes from ${labels.size} candidates`));

    const counts = JSON.parse(readFileSync(join(started.outputUri, 'class_counts.json'), 'utf8')) as Array<{ wnid: string; count: number }>;
    expect(new Map(counts.filter((c) => c.count > 0).map((c) => [c.wnid, c.count]))).toEqual(expectedPerClass);

    const mapping = readFileSync(join(started.outputUri, 'label_mapping.csv'), 'utf8');
    expect(mapping).toContain(',Lion cub,n02129165,');
    expect(mapping).toMatch(/,Fancy goldfish,n01443537,\d+,openimages-parent,/);
    const unmapped = readFileSync(join(started.outputUri, 'unmapped_labels.csv'), 'utf8');
    expect(unmapped).toMatch(/\/m\/0sel13,Panda,ambiguous-lemma: n02509815 n02510455,,\d+/);
    expect(unmapped).toContain(',Dog,above-118-classes (dog.n.01),dog.n.01,');

    const rows = await kit.rowsWhen<{ label: string; name: string; wnid: string; rule: string; images: string }>(
      sql`SELECT label, name, wnid, rule, images FROM curation_label_mappings FINAL WHERE shift_id = ${started.jobId} ORDER BY label`,
      (r) => r.length >= names.size,
    );
    expect(rows).toHaveLength(names.size);
    expect(rows.find((r) => r.name === 'Hamburger')).toMatchObject({ wnid: 'n07697313', rule: 'hyponym-unique' });
    expect(rows.filter((r) => r.rule === 'unmapped').map((r) => r.name)).toEqual(expect.arrayContaining(['Dog', 'Cat', 'Panda', 'Crane', 'Person']));

    // Bad records are decisions, not failures: the malformed label row and the missing JPEG.
    const bad = await kit.rowsWhen<{ reason: string }>(
      sql`SELECT reason FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} AND step = 'read' ORDER BY reason`,
      (r) => r.length >= 2,
    );
    expect(bad.map((r) => r.reason.split(':').slice(0, 2).join(':'))).toEqual(['bad-record: INVALID_METADATA', 'bad-record: MISSING_IMAGE']);
    const sources = await kit.rowsWhen<{ source: string; n: string }>(
      sql`SELECT source, count() AS n FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} AND kept = 1 GROUP BY source ORDER BY source`,
      (r) => r.reduce((s, x) => s + Number(x.n), 0) === expectedSamples,
    );
    expect(sources.map((s) => s.source)).toEqual(expect.arrayContaining(['openimages:verification']));
  });

  it('refuses unknown MIDs and a missing class-descriptions file up front', async () => {
    await expect(
      unary(client, 'StartCuration', { shiftName: 'x', pool: poolSpec(), steps: [{ name: 'schema-mapping', paramsJson: '{"labels": ["/m/0sel00", "/m/nope"]}' }] }),
    ).rejects.toThrow(/INVALID_ARGUMENT.*unknown MID\(s\) \/m\/nope/);
    await expect(
      unary(client, 'StartCuration', { shiftName: 'x', pool: { ...poolSpec(), classDescriptionsUri: join(pool, 'missing.csv') }, steps: [{ name: 'schema-mapping', paramsJson: '{}' }] }),
    ).rejects.toThrow(/INVALID_ARGUMENT.*missing\.csv does not exist/);
    await expect(unary(client, 'StartCuration', { shiftName: 'x', pool: { ...poolSpec(), labelUris: [] }, steps: [{ name: 'schema-mapping', paramsJson: '{}' }] })).rejects.toThrow(
      /INVALID_ARGUMENT.*label_uris/,
    );
  });
});
