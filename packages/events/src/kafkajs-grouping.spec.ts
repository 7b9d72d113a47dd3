// The linear grouping gives kafkajs exactly what its own groupMessagesPerPartition gives, and a process
// that imports @select/events before anything else runs kafkajs with it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition } from './kafkajs-grouping.js';

const require = createRequire(import.meta.url);

/** kafkajs 2.2.4's own function, compiled from its file (the module cache may hold ours under its name). */
function kafkajsGrouping(): typeof groupMessagesPerPartition {
  const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', readFileSync(file, 'utf8'))(module, module.exports, require);
  return module.exports as typeof groupMessagesPerPartition;
}

describe('groupMessagesPerPartition', () => {
  it("equals kafkajs' for 200 random batches: the same groups in the same order, the partitioner called alike", () => {
    const theirs = kafkajsGrouping();
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 0x1_0000_0000;
    };
    for (let round = 0; round < 200; round++) {
      const partitions = Math.floor(next() * 8); // 0: no metadata yet
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1 }));
      const messages = Array.from({ length: Math.floor(next() * 400) }, (_, i) => ({ key: `k${Math.floor(next() * 30)}`, value: `${round}-${i}` }));
      const calls: [unknown[], unknown[]] = [[], []];
      const partitioner =
        (log: unknown[]) =>
        ({ message }: { message: unknown }): number => {
          log.push(message);
          return Number((message as { key: string }).key.slice(1)) % Math.max(1, partitions);
        };
      const expected = theirs({ topic: 't', partitionMetadata, messages, partitioner: partitioner(calls[0]) });
      const actual = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: partitioner(calls[1]) });
      expect(actual).toEqual(expected);
      expect(Object.keys(actual)).toEqual(Object.keys(expected));
      expect(calls[1]).toEqual(calls[0]);
    }
  });

  it('is what kafkajs groups with in a process that imports @select/events first', async () => {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const script = [
      "const events = await import('./src/index.ts');",
      "const { createRequire } = await import('node:module');",
      "const require = createRequire(process.cwd() + '/package.json');",
      "const ours = (await import('./src/kafkajs-grouping.ts')).groupMessagesPerPartition;",
      "const loaded = require('kafkajs/src/producer/groupMessagesPerPartition.js');",
      "console.log(JSON.stringify({ installed: (await import('./src/kafkajs-grouping.ts')).linearGroupingInstalled, same: loaded === ours, producer: typeof events.createEventProducer }));",
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd, timeout: 25_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ installed: true, same: true, producer: 'function' });
  }, 30_000);
});
