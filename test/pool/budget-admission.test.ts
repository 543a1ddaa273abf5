import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { MemoryBudget, type Reservation } from '../../src/pool/budget.js';

/**
 * The memory budget's admission rules (src/pool/budget.ts): take at once when the queue is empty
 * and there is room, else wait first come first served; 413 for what can never fit, 503 with
 * Retry-After after waitMs, a waiter that is aborted leaves the queue; reservations resize and
 * release. Time is faked: waitMs passes only when a test advances it.
 */

const WAIT_MS = 1000;
let refused: string[];
let budget: MemoryBudget;

beforeEach(() => {
  vi.useFakeTimers();
  refused = [];
  budget = new MemoryBudget(100, WAIT_MS, (reason) => refused.push(reason));
});

afterEach(() => {
  vi.useRealTimers();
});

/** A promise's state without waiting for it. */
function track<T>(p: Promise<T>): { state: () => 'pending' | 'fulfilled' | 'rejected'; value: () => T; error: () => unknown } {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  let value: T;
  let error: unknown;
  p.then(
    (v) => {
      state = 'fulfilled';
      value = v;
    },
    (e) => {
      state = 'rejected';
      error = e;
    },
  );
  return { state: () => state, value: () => value, error: () => error };
}

/** Lets settled promises run their continuations (no timers advance). */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('MemoryBudget', () => {
  it('takes at once while there is room, up to the whole budget; release returns it, once', async () => {
    const a = await budget.acquire(60);
    const b = await budget.acquire(40);
    expect(budget.inUse).toBe(100);
    a.release();
    expect(budget.inUse).toBe(40);
    a.release();
    expect(budget.inUse).toBe(40);
    expect(a.bytes).toBe(0);
    b.release();
    expect(budget.inUse).toBe(0);
    expect(refused).toEqual([]);
  });

  it('refuses with 413 what can never fit, naming MEMORY_BUDGET_BYTES, without taking anything', async () => {
    const held = await budget.acquire(10);
    const e = await budget.acquire(101).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).statusCode).toBe(413);
    expect((e as ApiError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((e as ApiError).message).toMatch(/MEMORY_BUDGET_BYTES/);
    expect(budget.inUse).toBe(10);
    expect(refused).toEqual(['too_large']);
    held.release();
  });

  it('a request that does not fit now waits, then gets 503 OVERLOADED with Retry-After after waitMs', async () => {
    const held = await budget.acquire(70);
    const waiting = track(budget.acquire(50));
    await vi.advanceTimersByTimeAsync(WAIT_MS - 1);
    expect(waiting.state()).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.state()).toBe('rejected');
    const e = waiting.error() as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect([e.statusCode, e.code, e.retryAfter]).toEqual([503, 'OVERLOADED', 1]);
    expect(e.message).toMatch(/memory budget/);
    expect(refused).toEqual(['memory']);
    // It left the queue: the next request that fits is not held behind it.
    const next = track(budget.acquire(30));
    await flush();
    expect(next.state()).toBe('fulfilled');
    expect(budget.inUse).toBe(100);
    held.release();
    next.value().release();
    expect(budget.inUse).toBe(0);
  });

  it('a waiter is let in as soon as room frees, before its time is up', async () => {
    const held = await budget.acquire(70);
    const waiting = track(budget.acquire(50));
    await vi.advanceTimersByTimeAsync(WAIT_MS / 2);
    held.release();
    await flush();
    expect(waiting.state()).toBe('fulfilled');
    expect(budget.inUse).toBe(50);
    // Its timer was cleared: no 503 and no refusal counted later.
    await vi.advanceTimersByTimeAsync(WAIT_MS * 2);
    expect(refused).toEqual([]);
    waiting.value().release();
  });

  it('first come first served: a big waiter is not starved by small requests that would fit', async () => {
    const held = await budget.acquire(30);
    const order: string[] = [];
    const big = budget.acquire(80).then((r) => (order.push('big'), r));
    // Each would fit next to `held` (30 + 10), but the big one came first.
    const small = [1, 2, 3].map((i) => budget.acquire(10).then((r) => (order.push(`small${i}`), r)));
    await vi.advanceTimersByTimeAsync(WAIT_MS / 2);
    expect(order).toEqual([]);
    expect(budget.inUse).toBe(30);
    held.release();
    await flush();
    // big (80) and then the first two small ones (80 + 10 + 10 = 100); the third waits for room.
    expect(order).toEqual(['big', 'small1', 'small2']);
    expect(budget.inUse).toBe(100);
    (await big).release();
    await flush();
    expect(order).toEqual(['big', 'small1', 'small2', 'small3']);
    for (const s of small) (await s).release();
    expect(budget.inUse).toBe(0);
    expect(refused).toEqual([]);
  });

  it('wakes waiters in their order, only while the first of them fits', async () => {
    const held = await budget.acquire(100);
    const order: number[] = [];
    const sizes = [40, 50, 20, 5];
    const all = sizes.map((n, i) => budget.acquire(n).then((r) => (order.push(i), r)));
    // 60 free: the first (40) fits, the second (50) does not, so the third (20) waits behind it.
    await held.resize(40);
    await flush();
    expect(order).toEqual([0]);
    expect(budget.inUse).toBe(80);
    held.release();
    await flush();
    // 60 free: 50, then 5 more (the 20 is next: 40 + 50 + 20 = 110 does not fit).
    expect(order).toEqual([0, 1]);
    (await all[0]).release();
    await flush();
    expect(order).toEqual([0, 1, 2, 3]);
    for (const r of all) (await r).release();
    expect(budget.inUse).toBe(0);
  });

  it('an aborted waiter leaves the queue at once (its reason), and the next ones move up', async () => {
    const held = await budget.acquire(60);
    const ctl = new AbortController();
    const first = track(budget.acquire(50, ctl.signal));
    const second = track(budget.acquire(30));
    await flush();
    expect(second.state()).toBe('pending'); // 60 + 30 fits, but it is behind the first
    const reason = new Error('client gone');
    ctl.abort(reason);
    await flush();
    expect(first.state()).toBe('rejected');
    expect(first.error()).toBe(reason);
    expect(second.state()).toBe('fulfilled');
    expect(budget.inUse).toBe(90);
    // The aborted one's timer is gone too: no 503 is counted for it later.
    await vi.advanceTimersByTimeAsync(WAIT_MS * 2);
    expect(refused).toEqual([]);
    held.release();
    second.value().release();
    expect(budget.inUse).toBe(0);
  });

  it('an already aborted signal is refused at once, without taking or queueing', async () => {
    const reason = new Error('gone before');
    const e = await budget.acquire(10, AbortSignal.abort(reason)).catch((x: unknown) => x);
    expect(e).toBe(reason);
    expect(budget.inUse).toBe(0);
    const next = await budget.acquire(100);
    next.release();
  });

  it('nothing (0 bytes) never waits, even behind a queue', async () => {
    const held = await budget.acquire(90);
    const waiting = track(budget.acquire(50));
    const none = track(budget.acquire(0));
    await flush();
    expect(none.state()).toBe('fulfilled');
    expect(waiting.state()).toBe('pending');
    none.value().release();
    held.release();
    await flush();
    expect(waiting.state()).toBe('fulfilled');
    waiting.value().release();
    expect(budget.inUse).toBe(0);
  });
});

describe('Reservation', () => {
  it('shrinks at once, handing the room to waiters; grows at once when there is room', async () => {
    const r = await budget.acquire(90);
    const waiting = track(budget.acquire(40));
    await r.resize(60);
    await flush();
    expect(r.bytes).toBe(60);
    expect(waiting.state()).toBe('fulfilled');
    expect(budget.inUse).toBe(100);
    waiting.value().release();
    await r.resize(95);
    expect(r.bytes).toBe(95);
    expect(budget.inUse).toBe(95);
    r.release();
    expect(budget.inUse).toBe(0);
  });

  it('growth waits in the same queue, and is refused like an acquire (413 past the budget, 503 after waitMs)', async () => {
    const other = await budget.acquire(50);
    const r = await budget.acquire(20);
    // Past the whole budget: 413, and the reservation keeps what it had.
    const e413 = await r.resize(101).catch((x: unknown) => x);
    expect((e413 as ApiError).statusCode).toBe(413);
    expect(r.bytes).toBe(20);
    // 20 -> 60 needs 40 more, 30 are free: waits, then 503.
    const grow = track(r.resize(60));
    await vi.advanceTimersByTimeAsync(WAIT_MS);
    expect(grow.state()).toBe('rejected');
    expect((grow.error() as ApiError).statusCode).toBe(503);
    expect(r.bytes).toBe(20);
    expect(budget.inUse).toBe(70);
    // And when room frees in time, it grows.
    const again = track(r.resize(60));
    other.release();
    await flush();
    expect(again.state()).toBe('fulfilled');
    expect(r.bytes).toBe(60);
    expect(budget.inUse).toBe(60);
    r.release();
    expect(budget.inUse).toBe(0);
    expect(refused).toEqual(['too_large', 'memory']);
  });

  it('release while a growth waits: the growth is dropped with the reason, nothing is left taken', async () => {
    const other = await budget.acquire(80);
    const r = await budget.acquire(10);
    const behind = track(budget.acquire(15));
    const grow = track(r.resize(50));
    await flush();
    const reason = new Error('client gone');
    r.release(reason);
    await flush();
    expect(grow.state()).toBe('rejected');
    expect(grow.error()).toBe(reason);
    // The request behind the dropped growth fits now (80 + 15).
    expect(behind.state()).toBe('fulfilled');
    other.release();
    behind.value().release();
    await flush();
    expect(budget.inUse).toBe(0);
  });

  it('release between a growth being granted and its continuation gives the growth back', async () => {
    const other = await budget.acquire(80);
    const r = await budget.acquire(10);
    const grow = r.resize(50);
    await flush();
    other.release(); // grants the growth (10 + 40 taken) synchronously
    r.release(); // before the growth's continuation has run
    await grow;
    expect(r.bytes).toBe(0);
    expect(budget.inUse).toBe(0);
  });

  it('resize after release does nothing', async () => {
    const r: Reservation = await budget.acquire(10);
    r.release();
    await r.resize(50);
    expect(r.bytes).toBe(0);
    expect(budget.inUse).toBe(0);
  });
});
