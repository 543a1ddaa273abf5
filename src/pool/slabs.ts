/**
 * Shared memory reused request after request, for the big buffers the main thread hands to the
 * pool's workers: request bodies over inlineMaxBytes (read into a slab by the main thread, read
 * in place by a worker: no transfer) and the binary parts of big answers (written by the workers
 * that compute their rows). A fresh buffer of that size costs its pages, zeroed and faulted in
 * (~0.2-0.4 ms a MB on whichever thread first writes it), and megabytes of external memory a
 * second make every isolate collect more often (in a load run of sample 8x32000 in binary, V8's
 * helper threads spent ~0.75 ms a request, the main thread's collector ~0.2).
 *
 * A slab goes back to the free list only when nothing can touch it any more: a body once the
 * worker's task over it has returned, an answer's bytes once the response has finished (written
 * to the socket). Anything else (a task aborted, whose worker may still be running; a request
 * that failed or whose client left) is left to the collector, never reused. Sizes are classes a
 * quarter power of two apart (a slab is at most ~19% bigger than asked for); the free list keeps
 * at most `maxFree` bytes, of slabs up to `maxSlab` bytes (bigger ones are not kept).
 */
export class Slabs {
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  private readonly ours = new WeakSet<SharedArrayBuffer>();
  private freeBytes = 0;
  /** Takes served from the free list. */
  reused = 0;

  constructor(
    readonly maxFree = 64 << 20,
    readonly maxSlab = 16 << 20,
  ) {}

  /** Bytes in the free list. */
  get pooled(): number {
    return this.freeBytes;
  }

  /** The size class of a request for `bytes` (>= bytes, a multiple of 4 KiB). */
  static classOf(bytes: number): number {
    const e = Math.ceil(Math.log2(Math.max(bytes, 4096)) * 4) / 4;
    return Math.max(bytes, Math.ceil(2 ** e / 4096) * 4096);
  }

  /** A Buffer of `bytes` (contents undefined) over a slab, from the free list when it has one. */
  take(bytes: number): Buffer {
    const size = Slabs.classOf(bytes);
    const list = this.free.get(size);
    let slab = list?.pop();
    if (slab) {
      this.freeBytes -= size;
      this.reused++;
    } else {
      slab = new SharedArrayBuffer(size);
      this.ours.add(slab);
    }
    return Buffer.from(slab, 0, bytes);
  }

  /** Whether a buffer is a view of one of these slabs. */
  owns(buf: Uint8Array): boolean {
    return buf.buffer instanceof SharedArrayBuffer && this.ours.has(buf.buffer);
  }

  /** Hands a slab (the one `buf` views) back: nothing may touch it afterwards. */
  give(buf: Uint8Array): void {
    const slab = buf.buffer;
    if (!(slab instanceof SharedArrayBuffer) || !this.ours.has(slab)) return;
    const size = slab.byteLength;
    if (size > this.maxSlab || this.freeBytes + size > this.maxFree) return;
    const list = this.free.get(size);
    if (list?.includes(slab)) return; // given twice: keep it once
    if (list) list.push(slab);
    else this.free.set(size, [slab]);
    this.freeBytes += size;
  }
}
