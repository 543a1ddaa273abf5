import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulhi32, philox4x32_10, philoxBlocks } from '../../src/core/philox.js';
import { philoxBig } from '../helpers/philox-bigint.js';

const hex = (words: ArrayLike<number>) => Array.from(words, (x) => x.toString(16).padStart(8, '0')).join(' ');

function philox(c: readonly number[], k: readonly number[]): number[] {
  const out = new Uint32Array(4);
  philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1], out);
  return Array.from(out);
}

const word = fc.integer({ min: 0, max: 0xffffffff });
const edgeWord = fc.oneof(word, fc.constantFrom(0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff));

describe('philox4x32_10', () => {
  // Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
  it.each([
    [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ])('known answer %#', (c, k, want) => {
    expect(hex(philox(c, k))).toBe(want);
    expect(hex(philoxBig(c, k))).toBe(want);
  });

  it('agrees with an independent BigInt implementation on random counters and keys', () => {
    fc.assert(
      fc.property(fc.tuple(edgeWord, edgeWord, edgeWord, edgeWord), fc.tuple(edgeWord, edgeWord), (c, k) => {
        expect(philox(c, k)).toEqual(philoxBig(c, k));
      }),
      { seed: 20260101, numRuns: 500 },
    );
  });

  it('writes at an offset and reduces its arguments mod 2^32', () => {
    const out = new Uint32Array(10);
    philox4x32_10(1, 2, 3, 4, 5, 6, out, 5);
    expect(Array.from(out.subarray(5, 9))).toEqual(philoxBig([1, 2, 3, 4], [5, 6]));
    expect(out[4]).toBe(0);
    expect(out[9]).toBe(0);
    philox4x32_10(-1, 2 ** 32 + 2, 3, 4, 5, 6, out);
    expect(Array.from(out.subarray(0, 4))).toEqual(philoxBig([0xffffffff, 2, 3, 4], [5, 6]));
  });
});

describe('mulhi32', () => {
  it('is the exact high word of the 64-bit product', () => {
    fc.assert(
      fc.property(edgeWord, edgeWord, (a, b) => {
        expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
      }),
      { seed: 7, numRuns: 20_000 },
    );
    expect(mulhi32(0xffffffff, 0xffffffff)).toBe(0xfffffffe);
  });
});

describe('philoxBlocks', () => {
  it('equals one philox4x32_10 call per block, for any run length, offset and key', () => {
    fc.assert(
      fc.property(
        fc.tuple(edgeWord, edgeWord),
        fc.tuple(edgeWord, edgeWord, edgeWord),
        edgeWord,
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 3 }),
        ([k0, k1], [c1, c2, c3], first, nBlocks, offset) => {
          const got = new Uint32Array(offset + 4 * nBlocks + 4);
          philoxBlocks(k0, k1, c1, c2, c3, first, nBlocks, got, offset);
          const want = new Uint32Array(got.length);
          for (let i = 0; i < nBlocks; i++) philox4x32_10((first + i) >>> 0, c1, c2, c3, k0, k1, want, offset + 4 * i);
          expect(Array.from(got)).toEqual(Array.from(want));
        },
      ),
      { seed: 99, numRuns: 400 },
    );
  });

  it('wraps the block counter at 2^32 and survives alternating keys', () => {
    const got = new Uint32Array(20);
    philoxBlocks(1, 2, 3, 4, 5, 0xfffffffe, 5, got);
    const want: number[] = [];
    for (const b of [0xfffffffe, 0xffffffff, 0, 1, 2]) want.push(...philoxBig([b, 3, 4, 5], [1, 2]));
    expect(Array.from(got)).toEqual(want);
    // The round keys are cached per key; switching keys back and forth must not reuse stale ones.
    for (const [k0, k1] of [[7, 8], [9, 10], [7, 8], [7, 9], [8, 9]]) {
      const one = new Uint32Array(4);
      philoxBlocks(k0, k1, 0, 0, 0, 3, 1, one);
      expect(Array.from(one)).toEqual(philoxBig([3, 0, 0, 0], [k0, k1]));
    }
  });
});
