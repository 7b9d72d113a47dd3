// Run as a child process by shift-writer.spec.ts: writes `count` samples into a shift and then hangs
// with its current shard half-written, until the test kills it with SIGKILL (a real crash: no
// finally blocks, no close()).
import { ShiftWriter } from './shift-writer.js';
import { CRASH_TEST_CLASSES, crashTestSample, CRASH_TEST_OPTIONS } from './shift-fixtures.test-util.js';

const [dir, countText] = process.argv.slice(2);
const writer = await ShiftWriter.open(dir ?? '', { ...CRASH_TEST_OPTIONS, classes: CRASH_TEST_CLASSES });
for (let i = 0; i < Number(countText); i++) await writer.add(await crashTestSample(i));
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
