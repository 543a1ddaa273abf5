import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Young-generation collections on the main thread, paced by the bytes of big bodies and answers
 * that pass through it. Those bytes arrive and leave as short-lived Buffers (the socket's 64 KiB
 * reads, the workers' answer chunks) that are dead at once but freed only when V8 collects their
 * small JS objects, which it does after tens of MB of such garbage (measured: ~30 MiB of socket
 * reads still resident after a 32 MiB body, and as much of answer chunks while streaming).
 * A scavenge of the main heap costs ~0.3 ms; one every STEP bytes bounds that garbage.
 *
 * The main thread's gc(): --expose-gc set at run time exposes it in contexts created afterwards,
 * not in the main one (the way Jest's leak detector gets it). Without it, this is a no-op.
 */
const STEP = 8 << 20;

type Gc = (opts?: { type: 'minor' | 'major' }) => void;
let gc: Gc | undefined;
try {
  v8.setFlagsFromString('--expose-gc');
  gc = vm.runInNewContext('gc') as Gc;
} catch {
  gc = undefined;
}

let pending = 0;

/** Counts bytes of dead Buffers the main thread let go of; collects every STEP of them. */
export function passedThrough(bytes: number): void {
  pending += bytes;
  if (pending >= STEP && gc) {
    pending = 0;
    gc({ type: 'minor' });
  }
}
