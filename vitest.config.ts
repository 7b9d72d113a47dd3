// One vitest run over every package: a single summary line for the whole repository.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts'],
    reporters: ['default', './tools/vitest/plain-summary-reporter.ts'],
  },
});
