#!/usr/bin/env node
// Where a process's CPU time went, from V8 .cpuprofile files (what `run.mjs --cpu-prof` writes for the curator
// and every worker): self time by area (matching, JSON, protobuf encoding, kafkajs, fs, GC, idle, ...) and the
// functions with the most self time.
//
//   node tools/bench/curation-substring/profile-summary.mjs FILE.cpuprofile... [--top 25]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { wholeOption } from '../lib/bench-kit.mjs';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const top = wholeOption('top', values.top);

/** The area a frame belongs to, from its function and script. */
function areaOf({ functionName, url }) {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'program (V8, native)';
  if (url.includes('/taxonomy/')) return 'matching (@select/taxonomy)';
  if (url.includes('/protobufjs/') || url.includes('/contracts/')) return 'protobuf (contracts, protobufjs)';
  if (url.includes('/kafkajs/')) return 'kafkajs';
  if (url.includes('/events/')) return '@select/events';
  if (url.includes('/curator/')) return '@select/curator';
  if (url.includes('/pino') || url.includes('/platform/')) return 'logging, platform';
  if (url.includes('/grpc')) return 'grpc';
  if (url === '' && /^(parse|stringify)$/.test(functionName)) return `JSON.${functionName}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  if (/^[A-Za-z]+\$(encode|decode|fromObject|verify|toObject)$/.test(functionName)) return 'protobuf (contracts, protobufjs)';
  if (/^(writeBuffer|writeString|utf8Write|utf8Slice|latin1Slice)$/.test(functionName)) return 'buffer copies (native)';
  if (url === '') return 'other native (fs, timers, regexp, ...)';
  return 'other';
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]; attribute it to that sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((s, v) => s + v, 0);
  const areas = new Map();
  const functions = new Map();
  for (const [id, micros] of self) {
    const frame = byId.get(id).callFrame;
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + micros);
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
  }
  const busy = total - (areas.get('idle') ?? 0);
  const seconds = (micros) => (micros / 1e6).toFixed(2).padStart(7);
  const share = (micros) => `${((100 * micros) / busy).toFixed(1).padStart(5)} %`;
  console.log(`\n${basename(file)}: ${seconds(total)} s profiled, ${seconds(busy)} s busy (shares below are of busy time)`);
  for (const [area, micros] of [...areas].sort((a, b) => b[1] - a[1])) if (area !== 'idle') console.log(`  ${seconds(micros)} s ${share(micros)}  ${area}`);
  console.log('  top functions (self time):');
  for (const [key, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (key.startsWith('(idle)')) continue;
    console.log(`  ${seconds(micros)} s ${share(micros)}  ${key}`);
  }
}
