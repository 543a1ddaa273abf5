import { describe, expect, it } from 'vitest';
import { ApiError, MAX_ECHOED, MAX_ECHOED_CHARS, echoList, invalidRequest, type Issue } from '../src/errors.js';

/** What a 400 echoes back is capped: MAX_ECHOED issues, and names within one, with a count. */

const names = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);
const issues = (n: number): Issue[] => Array.from({ length: n }, (_, i) => ({ path: [`f${i}`], message: `f${i} is wrong` }));

describe('echoList', () => {
  it('lists up to MAX_ECHOED names as they are', () => {
    expect(MAX_ECHOED).toBe(20);
    expect(echoList(['foo'])).toBe('foo');
    expect(echoList(['x"y', 'se\\ed'])).toBe('x"y, se\\ed');
    expect(echoList(names(20))).toBe(names(20).join(', '));
  });

  it('then counts the rest', () => {
    expect(echoList(names(21))).toBe(`${names(20).join(', ')}, ... and 1 more`);
    expect(echoList(names(400_000))).toBe(`${names(20).join(', ')}, ... and 399,980 more`);
  });

  it('cuts a name over MAX_ECHOED_CHARS, and not inside a surrogate pair', () => {
    const long = 'a'.repeat(MAX_ECHOED_CHARS);
    expect(echoList([long])).toBe(long);
    expect(echoList([`${long}b`])).toBe(`${long}...(1,001 characters)`);
    const emoji = `${'a'.repeat(MAX_ECHOED_CHARS - 1)}😀tail`; // the pair straddles the cut
    const cut = echoList([emoji]);
    expect(cut).toBe(`${'a'.repeat(MAX_ECHOED_CHARS - 1)}...(1,005 characters)`);
    expect(/[\uD800-\uDFFF]/.test(cut)).toBe(false); // no half pair left
  });
});

describe('invalidRequest', () => {
  it('is a 400 whose message joins the issues', () => {
    const e = invalidRequest(issues(2));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.toJSON()).toEqual({
      statusCode: 400,
      code: 'INVALID_REQUEST',
      error: 'Bad Request',
      message: 'f0 is wrong; f1 is wrong',
      issues: issues(2),
    });
  });

  it('keeps MAX_ECHOED issues and counts the rest in the message', () => {
    expect(invalidRequest(issues(20)).issues).toEqual(issues(20));
    const e = invalidRequest(issues(25));
    expect(e.issues).toEqual(issues(20));
    expect(e.message).toBe(`${issues(20).map((i) => i.message).join('; ')}; ... and 5 more issues`);
    const huge = invalidRequest(issues(100_000));
    expect(JSON.stringify(huge.toJSON()).length).toBeLessThan(2000);
    expect(huge.message).toMatch(/; \.\.\. and 99,980 more issues$/);
  });
});
