import { describe, expect, it } from 'vitest';
import { Cancel } from '../../src/pool/cancel.js';

describe('Cancel (an AbortController made only when its signal is asked for)', () => {
  it('an abort after the signal was made aborts the signal, with the reason, once', () => {
    const c = new Cancel();
    const signal = c.signal;
    let fired = 0;
    signal.addEventListener('abort', () => fired++);
    const why = new Error('gone');
    c.abort(why);
    c.abort(new Error('again'));
    expect([signal.aborted, signal.reason, c.aborted, c.reason, fired]).toEqual([true, why, true, why, 1]);
    expect(c.signal).toBe(signal);
  });

  it('a signal made after an abort starts aborted, with the first reason', () => {
    const c = new Cancel();
    const why = new Error('gone');
    c.abort(why);
    c.abort(new Error('again'));
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(why);
    expect(() => c.throwIfAborted()).toThrow(why);
  });

  it('not aborted: no signal aborted, nothing thrown', () => {
    const c = new Cancel();
    expect(c.aborted).toBe(false);
    expect(() => c.throwIfAborted()).not.toThrow();
    expect(c.signal.aborted).toBe(false);
  });
});
