// The record decoder gives kafkajs exactly what its own gives, and a process that imports @select/events
// before anything else fetches with it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeRecord, type BatchContext, type KafkajsDecoder } from './kafkajs-record-decoder.js';

const require = createRequire(import.meta.url);
type RecordDecoder = typeof decodeRecord;
type DecoderClass = new (buffer: Buffer) => KafkajsDecoder;
const Decoder = require('kafkajs/src/protocol/decoder.js') as DecoderClass;

/** A zigzag varint of any 64-bit value. */
function varlong(value: bigint): number[] {
  let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const bytes = (value: Buffer | null): number[] => (value === null ? varlong(-1n) : [...varlong(BigInt(value.length)), ...value]);

/** A record body as Kafka writes it (null keys, values and header values included, which kafkajs' encoder cannot write). */
function recordBody(r: { timestampDelta: bigint; offsetDelta: number; key: Buffer | null; value: Buffer | null; headers: [string, Buffer | null][] }): Buffer {
  return Buffer.from([
    0,
    ...varlong(r.timestampDelta),
    ...varlong(BigInt(r.offsetDelta)),
    ...bytes(r.key),
    ...bytes(r.value),
    ...varlong(BigInt(r.headers.length)),
    ...r.headers.flatMap(([name, value]) => [...bytes(Buffer.from(name)), ...bytes(value)]),
  ]);
}

/** kafkajs 2.2.4's own record decoder, compiled from its file (the module cache may hold ours under its name). */
function kafkajsDecoder(): RecordDecoder {
  const file = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', readFileSync(file, 'utf8'))(module, module.exports, createRequire(file));
  return module.exports as RecordDecoder;
}

describe('kafkajs record decoder', () => {
  it("equals kafkajs' for 2,000 random records: offsets and timestamps past 2^53, negative deltas, repeated and null headers", () => {
    const theirs = kafkajsDecoder();
    let seed = 4242;
    const next = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 0x1_0000_0000;
    };
    const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)] as T;
    for (let round = 0; round < 2000; round++) {
      const headers: [string, Buffer | null][] = [];
      for (let h = Math.floor(next() * 8); h > 0; h--) {
        const name = pick(['event-id', 'event-type', 'source', 'ü-name', 'x']);
        headers.push([name, next() < 0.1 ? null : Buffer.from(pick(['', 'a', 'select.events.v1.SampleCurated', 'ß'.repeat(40)]))]);
      }
      const body = recordBody({
        timestampDelta: BigInt(pick([0, 1, -5, 2 ** 40, -(2 ** 47), 2 ** 55, -(2 ** 60)])),
        offsetDelta: Math.floor(next() * 2 ** 31),
        key: next() < 0.2 ? null : Buffer.from(`key-${round}`),
        value: next() < 0.1 ? null : Buffer.from(`value-${round}`),
        headers,
      });
      const context: BatchContext = {
        firstOffset: pick(['0', '123456789', '9007199254740990', '9223372036854775000']),
        firstTimestamp: pick(['1765000000000', '-1', '9007199254740000', '0']),
        magicByte: 2,
        isControlBatch: next() < 0.1,
        timestampType: next() < 0.2 ? 1 : 0,
        maxTimestamp: '1765000000999',
      };
      const expected = theirs(new Decoder(body), context);
      const actual = decodeRecord(new Decoder(body), context);
      expect(actual).toEqual(expected);
      expect(Object.keys(actual.headers as object)).toEqual(Object.keys(expected.headers as object));
    }
  });

  it("keeps headers named like Object.prototype's members as plain headers (kafkajs mixes the prototype's member in)", () => {
    const body = recordBody({ timestampDelta: 0n, offsetDelta: 0, key: null, value: null, headers: [['__proto__', Buffer.from('a')], ['toString', Buffer.from('b')], ['toString', null]] });
    const { headers } = decodeRecord(new Decoder(body), { firstOffset: '0', firstTimestamp: '0' }) as { headers: Record<string, unknown> };
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.keys(headers)).toEqual(['__proto__', 'toString']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(Buffer.from('a'));
    expect(headers.toString).toEqual([Buffer.from('b'), null]);
  });

  it('is what kafkajs fetches with in a process that imports @select/events first', async () => {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const script = [
      "const events = await import('./dist/index.js');",
      "const { createRequire } = await import('node:module');",
      "const require = createRequire(import.meta.url);",
      "await import('kafkajs');",
      "const used = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') && require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');",
      "const { decodeRecord } = await import('./dist/kafkajs-record-decoder.js');",
      'console.log(JSON.stringify({ same: used === decodeRecord }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd });
    expect(JSON.parse(stdout)).toEqual({ same: true });
  });
});
