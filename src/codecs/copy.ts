/**
 * Copying bytes to or from shared memory (a SharedArrayBuffer: the pool's slabs, src/pool/slabs.ts)
 * at full speed. V8 copies shared memory with relaxed atomic word moves, which fall back to one
 * byte at a time when source and destination are not aligned alike: measured ~9x slower than
 * memcpy (0.26 vs 0.03 ms a MB), and a body arrives in socket chunks of any length, so most of
 * its copies would be. Such a copy goes through ordinary buffers instead, each shared side's
 * copy aligned alike (~0.07 ms a MB: two copies, both at memcpy speed).
 */

const STAGE = 64 * 1024;
let stages: [Uint8Array, Uint8Array] | undefined;

/** Copies src into dst at `at` (dst.set(src, at)), fast when either is shared. */
export function copyBytes(dst: Uint8Array, src: Uint8Array, at = 0): void {
  const dstShared = dst.buffer instanceof SharedArrayBuffer;
  const srcShared = src.buffer instanceof SharedArrayBuffer;
  if ((!dstShared && !srcShared) || ((dst.byteOffset + at - src.byteOffset) & 7) === 0) {
    dst.set(src, at);
    return;
  }
  stages ??= [new Uint8Array(STAGE + 8), new Uint8Array(STAGE + 8)];
  for (let o = 0; o < src.length; o += STAGE) {
    const n = Math.min(STAGE, src.length - o);
    let part = src.subarray(o, o + n);
    if (srcShared) {
      // Out of shared memory into a stage at the source's alignment.
      const shift = (src.byteOffset + o) & 7;
      const s = stages[0].subarray(shift, shift + n);
      s.set(part);
      part = s;
    }
    if (dstShared) {
      // Into a stage at the destination's alignment, then into shared memory.
      const shift = (dst.byteOffset + at + o) & 7;
      const s = stages[1].subarray(shift, shift + n);
      s.set(part);
      part = s;
    }
    dst.set(part, at + o);
  }
}
