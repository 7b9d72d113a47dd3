// The executable behind `select` (bin/select.js loads it). The exit code is set, not forced, so output is
// flushed and a long-running command (`select sink`) keeps running after its action resolved.
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
