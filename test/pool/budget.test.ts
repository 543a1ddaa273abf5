import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { MemoryBudget } from '../../src/pool/budget.js';

/**
 * The memory budget's waiting room (src/pool/budget.ts) when a waiter's request goes away (its
 * client hung up: the signal src/routes/v1.ts passes): it leaves the queue at once, is neither
 * refused nor counted, and never takes bytes. Over sockets: test/pool/client-gone.test.ts.
 */

afterEach(() => {
  vi.useRealTimers();
});

const gone = () => new ApiError(499, 'CLIENT_GONE', 'gone');

describe('MemoryBudget and a waiter that leaves', () => {
  it('leaves the queue at once, with its reason; its timer neither refuses nor counts it later', async () => {
    vi.useFakeTimers();
    const refused: string[] = [];
    const budget = new MemoryBudget(100, 1000, (r) => refused.push(r));
    const held = await budget.acquire(80);
    const ac = new AbortController();
    const waiting = budget.acquire(50, ac.signal);
    const reason = gone();
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await vi.advanceTimersByTimeAsync(5000);
    expect(refused).toEqual([]);
    held.release();
    expect(budget.inUse).toBe(0);
  });

  it('lets the next waiter in when the one ahead of it leaves', async () => {
    const budget = new MemoryBudget(100, 10_000);
    const held = await budget.acquire(60);
    const ac = new AbortController();
    const first = budget.acquire(90, ac.signal); // would need all but 10
    const second = budget.acquire(30); // fits now, but waits behind the first (FIFO)
    let secondIn = false;
    void second.then(() => (secondIn = true));
    await Promise.resolve();
    expect(secondIn).toBe(false);
    ac.abort(gone());
    await expect(first).rejects.toMatchObject({ code: 'CLIENT_GONE' });
    const r = await second;
    expect(budget.inUse).toBe(90);
    r.release();
    held.release();
    expect(budget.inUse).toBe(0);
  });

  it('refuses a request already gone without taking or waiting', async () => {
    const refused: string[] = [];
    const budget = new MemoryBudget(100, 10_000, (r) => refused.push(r));
    const held = await budget.acquire(100);
    const ac = new AbortController();
    ac.abort(gone());
    await expect(budget.acquire(10, ac.signal)).rejects.toMatchObject({ code: 'CLIENT_GONE' });
    // Not even when it would fit at once.
    held.release();
    await expect(budget.acquire(10, ac.signal)).rejects.toMatchObject({ code: 'CLIENT_GONE' });
    expect(budget.inUse).toBe(0);
    expect(refused).toEqual([]);
  });

  it('a waiter that got its room before leaving keeps it until released', async () => {
    const budget = new MemoryBudget(100, 10_000);
    const held = await budget.acquire(100);
    const ac = new AbortController();
    const waiting = budget.acquire(40, ac.signal);
    held.release();
    const r = await waiting;
    ac.abort(gone()); // too late to matter here: the caller releases (src/routes/v1.ts)
    expect(budget.inUse).toBe(40);
    r.release();
    expect(budget.inUse).toBe(0);
  });
});
