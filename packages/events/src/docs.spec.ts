// docs/events.md is the contract for consumers in other languages; these checks keep it true to the registry
// and the header names this package really writes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from './dead-letter.js';
import { ENVELOPE_HEADERS, PROTOBUF_CONTENT_TYPE, SCHEMA_VERSION } from './envelope.js';
import { DLQ_PARTITIONS, DLQ_SUFFIX, TOPICS } from './topics.js';

const doc = readFileSync(new URL('../../../docs/events.md', import.meta.url), 'utf8');

describe('docs/events.md', () => {
  it('documents every topic with its partitions, key and payload messages, as the registry has them', () => {
    for (const spec of Object.values(TOPICS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${spec.name}\` |`));
      expect(row, spec.name).toBeDefined();
      const cells = row?.split('|').map((c) => c.trim()) ?? [];
      expect(cells[2], `${spec.name} partitions`).toBe(String(spec.partitions));
      expect(cells[3], `${spec.name} key`).toBe(`\`${spec.key}\``);
      expect(cells[4], `${spec.name} payloads`).toBe(spec.messageTypes.map((t: string) => `\`${t}\``).join(', '));
    }
  });

  it('names every envelope and dead-letter header the code writes, and the DLQ naming', () => {
    for (const header of [...Object.values(ENVELOPE_HEADERS), ...Object.values(DLQ_HEADERS)]) {
      expect(doc, header).toContain(`| \`${header}\` |`);
    }
    expect(doc).toContain(`\`<topic>${DLQ_SUFFIX}\``);
    expect(doc).toMatch(DLQ_PARTITIONS === 1 ? /one partition/ : new RegExp(`${DLQ_PARTITIONS} partitions`));
    expect(doc).toContain(`\`${PROTOBUF_CONTENT_TYPE}\``);
    expect(doc).toContain(`\`schema-version\` | decimal integer | \`${SCHEMA_VERSION}\``);
  });
});
