import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    // Statistical tests draw millions of variates; the machine has 2 shared cores.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
