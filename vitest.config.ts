// One vitest run over every package: a single summary line for the whole repository.
// Fault tests (`*.fault.spec.ts`) stop and restart the shared Kafka/ClickHouse; they run in a group of
// their own, one file at a time, after every other test has finished.
import { defineConfig } from 'vitest/config';
import { workspaceAliases } from './vitest.shared.js';

export default defineConfig({
  test: {
    projects: [
      'packages/*/vitest.config.ts',
      'tools/interop/vitest.config.ts',
      {
        resolve: { alias: workspaceAliases() },
        test: {
          name: 'faults',
          include: ['packages/*/src/**/*.fault.spec.ts', 'packages/*/test/**/*.fault.spec.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // End-to-end runs (`*.e2e.ts`): every service as its own process through the supervisor; one file at a
        // time, after the fault tests.
        resolve: { alias: workspaceAliases() },
        test: {
          name: 'e2e',
          include: ['packages/*/test/e2e/**/*.e2e.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
          testTimeout: 900_000,
          hookTimeout: 300_000,
        },
      },
    ],
    reporters: ['default', './tools/vitest/plain-summary-reporter.ts'],
  },
});
