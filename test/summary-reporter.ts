import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, "tests: N passed, N failed" (", N skipped" when some were), after
 * vitest's own summary, so any CI that reads closing lines can count the run.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && mod.children.size === 0) failed++; // a file that failed to load
    }
    const tail = skipped ? `, ${skipped} skipped` : '';
    // At exit, so that it comes after the default reporter's summary (stdout is synchronous for
    // files and pipes on Linux).
    process.once('exit', () => process.stdout.write(`tests: ${passed} passed, ${failed} failed${tail}\n`));
  }
}
