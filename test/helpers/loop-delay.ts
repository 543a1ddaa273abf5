import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

/**
 * Preloaded into a child service (`node --import tsx --import test/helpers/loop-delay.ts
 * src/server.ts`, see ./lag.ts) to measure its main thread's event-loop delay from inside, with
 * nothing added to the service: a perf_hooks histogram sampled every millisecond. On SIGWINCH
 * (ignored by default, and not one of the signals close-with-grace shuts down on, as SIGUSR2 is)
 * and on SIGTERM, before the service's own handler shuts it down, it writes the figures since
 * the previous such line to stderr, in ms, and starts afresh:
 *   anymax-loop-delay {"count":..,"min":..,"p50":..,"p99":..,"max":..,"mean":..}
 * Pool workers load it too when they inherit node's flags (a built server): it does nothing there.
 */

/** The line's tag (./lag.ts reads it). Nothing is exported: importing this module starts the probe. */
const LOOP_DELAY_TAG = 'anymax-loop-delay';

if (isMainThread) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const report = () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const figures = { count: h.count, min: ms(h.min), p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) };
    // Synchronous on a pipe (Linux), so it is written before the process goes.
    process.stderr.write(`${LOOP_DELAY_TAG} ${JSON.stringify(figures)}\n`);
    h.reset();
  };
  process.on('SIGWINCH', report);
  process.once('SIGTERM', report);
}
