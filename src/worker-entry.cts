/**
 * The pool's worker module as piscina loads it (src/pool/jobs.ts): CommonJS, which piscina
 * require()s, exporting a promise of the handler from import() of ./worker.ts. piscina would
 * otherwise require() the ES module itself, which Node 20.19+ does synchronously; a worker ended
 * while doing so (its task's client gone while the worker was still starting) took the whole
 * process down with a V8 fatal error ("Module::IsGraphAsync must be used on an instantiated
 * module": 3 of 9 runs of 40 such stops). An ended thread just abandons an import() (0 of 9).
 */
module.exports = import('./worker.js').then((m: { default: unknown }) => m.default);
