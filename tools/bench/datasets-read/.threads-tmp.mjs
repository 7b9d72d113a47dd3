import { readdirSync, readFileSync } from 'node:fs';
import { decodeImages, readClassShards } from '@select/datasets';
const [pattern, c] = process.argv.slice(2);
let n = 0;
for await (const r of decodeImages(readClassShards({ shards: pattern }), { concurrency: Number(c) })) n++;
for (const tid of readdirSync('/proc/self/task')) {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(f[11]) + Number(f[12])) * 10000 / n; // clock ticks 100/s -> µs per image
  if (cpu > 5) console.log(name.padEnd(16), cpu.toFixed(0), 'µs/img');
}
