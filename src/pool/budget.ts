import { ApiError } from '../errors.js';

/**
 * The memory budget: bytes that requests in flight may hold at once (bodies, matrices, answers
 * being written). Admission reserves a request's estimate before its body is read (from
 * Content-Length) and adjusts it once the shape is known; the reservation is returned when the
 * answer has been written or the client has gone.
 *
 * A request that can never fit (estimate over the whole budget) is refused with 413; one that
 * does not fit now waits, first come first served, up to `waitMs`, then gets 503 with
 * Retry-After. FIFO matters: a big request waiting for room is not starved by a stream of small
 * ones that would each fit.
 */

export class Reservation {
  private released = false;
  /** Aborted by release(): a growth still waiting for room is dropped from the queue. */
  private cancel?: AbortController;

  constructor(
    private readonly budget: MemoryBudget,
    public bytes: number,
  ) {}

  /**
   * Grows or shrinks the reservation to `bytes` (growth waits or fails like acquire). After
   * release() it holds nothing and does nothing: the request is over, and what it was about to
   * take would never be given back.
   */
  async resize(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.released) return;
    if (bytes <= this.bytes) {
      this.budget.give(this.bytes - bytes);
      this.bytes = bytes;
      return;
    }
    const extra = bytes - this.bytes;
    this.cancel ??= new AbortController();
    await this.budget.take(extra, bytes, signal ? AbortSignal.any([signal, this.cancel.signal]) : this.cancel.signal);
    // Released between the grant and this continuation: hand it straight back.
    if (this.released) return this.budget.give(extra);
    this.bytes += extra;
  }

  /**
   * Returns every byte (idempotent); a growth still waiting is rejected with `reason` (the
   * request's end: its client gone).
   */
  release(reason?: unknown): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.bytes);
    this.bytes = 0;
    // The default reason made only when a growth may be waiting: an Error (its stack) per
    // request was ~4% of the main thread's time on small requests (profile of sample 1x50).
    this.cancel?.abort(reason ?? new Error('the memory reservation was released'));
  }
}

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class MemoryBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly total: number,
    private readonly waitMs: number,
    /** Called when a request is refused: 'too_large' (never fits) or 'memory' (no room in time). */
    private readonly onRefuse: (reason: 'too_large' | 'memory') => void = () => {},
  ) {}

  get inUse(): number {
    return this.used;
  }

  /** Requests (or growths) waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  async acquire(bytes: number, signal?: AbortSignal): Promise<Reservation> {
    await this.take(bytes, bytes, signal);
    return new Reservation(this, bytes);
  }

  /**
   * Takes `bytes` more; `whole` is the reservation's total after it, for the 413 test. Nothing
   * (0 bytes) never waits: a request that holds no memory cannot starve one that waits for it.
   */
  async take(bytes: number, whole: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (whole > this.total) {
      this.onRefuse('too_large');
      throw new ApiError(
        413,
        'PAYLOAD_TOO_LARGE',
        `this request needs about ${mib(whole)} of memory, more than the service's whole memory budget of ${mib(this.total)} (MEMORY_BUDGET_BYTES)`,
      );
    }
    if (bytes <= 0) return;
    if (this.waiters.length === 0 && this.used + bytes <= this.total) {
      this.used += bytes;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = { bytes, resolve, reject };
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        settle();
        this.drop(w);
        this.onRefuse('memory');
        reject(
          new ApiError(503, 'OVERLOADED', `no room in the memory budget for this request (about ${mib(whole)}) within ${this.waitMs} ms; retry later`, undefined, 1),
        );
      }, this.waitMs);
      const onAbort = () => {
        settle();
        this.drop(w);
        reject(signal?.reason);
      };
      w.resolve = () => {
        settle();
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  give(bytes: number): void {
    this.used -= bytes;
    // Wake waiters in order while the first fits.
    while (this.waiters.length > 0 && this.used + this.waiters[0].bytes <= this.total) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.resolve();
    }
  }

  private drop(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    // The head leaving may let the next ones in.
    this.give(0);
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
