#!/usr/bin/env node
// The `select` command as npm links it (node_modules/.bin/select). This stub is committed rather than built so
// that the link exists right after `npm ci`; the command itself is the build output in dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('select: the CLI is not built yet. Run `npx nx run @select/cli:build` (or `npm run build`) first.\n');
  process.exit(1);
}
await import(entry.href);
