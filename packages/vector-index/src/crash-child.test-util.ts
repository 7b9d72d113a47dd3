// Run by persistent-index.spec.ts as a separate process that is killed with SIGKILL mid-write:
//   node --import tsx crash-child.test-util.ts <root> <dimension>
// Adds batches of 20 vectors to index "crash" forever (a snapshot every 7 batches, so kills also land
// inside snapshots) and prints "ack <batch>" once a batch is durable.
import { IndexCatalog } from './index-catalog.js';
import { vectorFor } from './persistence-fixtures.test-util.js';

const [root, dimensionArg] = process.argv.slice(2);
const dimension = Number(dimensionArg);
const catalog = await IndexCatalog.open(root!, { threads: 1 });
const index = catalog.list().find((i) => i.name === 'crash') ?? (await catalog.create('crash', { dimension }));
for (let batch = 0; ; batch++) {
  const items = Array.from({ length: 20 }, (_, j) => ({ id: `b${batch}-${j}`, vector: vectorFor(batch * 20 + j, dimension) }));
  await index.add(items);
  process.stdout.write(`ack ${batch}\n`);
  if (batch % 7 === 6) await index.snapshot();
}
