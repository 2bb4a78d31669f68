import { defineConfig } from 'vitest/config';

// Colocated unit tests live beside the code (agent/, hub/); suites that start
// real services live in test/integration and test/e2e.
export default defineConfig({
  test: {
    include: ['agent/**/*.test.ts', 'hub/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2-core CI machine: integration suites start servers and databases, so
    // keep parallelism modest and deterministic.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
