import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  PHILOX_RUN_MAX,
  mulhi32,
  philox4x32_10,
  philoxBlocks,
  philoxBlocksJs,
  philoxRows,
  philoxRun,
} from '../../src/core/philox.js';
import { philoxSimd, SIMD_MAX_BLOCKS } from '../../src/core/philox-simd.js';
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

describe.each([
  ['philoxBlocks (SIMD where available)', philoxBlocks],
  ['philoxBlocksJs', philoxBlocksJs],
] as const)('%s', (_name, blocks) => {
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
          blocks(k0, k1, c1, c2, c3, first, nBlocks, got, offset);
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
    blocks(1, 2, 3, 4, 5, 0xfffffffe, 5, got);
    const want: number[] = [];
    for (const b of [0xfffffffe, 0xffffffff, 0, 1, 2]) want.push(...philoxBig([b, 3, 4, 5], [1, 2]));
    expect(Array.from(got)).toEqual(want);
    // The JS path caches round keys per key; switching keys back and forth must not reuse them.
    for (const [k0, k1] of [[7, 8], [9, 10], [7, 8], [7, 9], [8, 9]]) {
      const one = new Uint32Array(4);
      blocks(k0, k1, 0, 0, 0, 3, 1, one);
      expect(Array.from(one)).toEqual(philoxBig([3, 0, 0, 0], [k0, k1]));
    }
  });

  it('handles runs longer than one SIMD call', () => {
    const n = PHILOX_RUN_MAX + 37;
    const got = new Uint32Array(4 * n);
    blocks(11, 12, 13, 14, 15, 0xffffff00, n, got);
    for (const i of [0, 255, 256, 257, PHILOX_RUN_MAX - 1, PHILOX_RUN_MAX, n - 1]) {
      expect(Array.from(got.subarray(4 * i, 4 * i + 4))).toEqual(philoxBig([(0xffffff00 + i) >>> 0, 13, 14, 15], [11, 12]));
    }
  });
});

describe('philoxRun and the WebAssembly SIMD generator', () => {
  it('SIMD is available on the Node versions we support (so the fast path is the one tested)', () => {
    expect(philoxSimd).not.toBeNull();
    expect(SIMD_MAX_BLOCKS).toBe(PHILOX_RUN_MAX);
  });

  it('philoxRun and the raw SIMD words equal the BigInt reference', () => {
    fc.assert(
      fc.property(
        fc.tuple(edgeWord, edgeWord, edgeWord, edgeWord, edgeWord),
        edgeWord,
        fc.integer({ min: 1, max: 70 }),
        ([k0, k1, c1, c2, c3], first, nBlocks) => {
          const words = philoxRun(k0, k1, c1, c2, c3, first, nBlocks);
          for (let i = 0; i < nBlocks; i += Math.max(1, nBlocks >> 3)) {
            expect(Array.from(words.subarray(4 * i, 4 * i + 4))).toEqual(philoxBig([(first + i) >>> 0, c1, c2, c3], [k0, k1]));
          }
          if (philoxSimd) {
            philoxSimd.blocks(k0, k1, c1, c2, c3, first, nBlocks, 1);
            const js = new Uint32Array(4 * nBlocks);
            philoxBlocksJs(k0, k1, c1, c2, c3, first, nBlocks, js);
            expect(Array.from(philoxSimd.words.subarray(0, 4 * nBlocks))).toEqual(Array.from(js));
          }
        },
      ),
      { seed: 31337, numRuns: 300 },
    );
  });
});

describe('philoxRows', () => {
  it('gives each row (c2 + i) its run at stride 4 ceil4(nBlocks) words', () => {
    fc.assert(
      fc.property(
        fc.tuple(edgeWord, edgeWord, edgeWord, edgeWord, edgeWord),
        edgeWord,
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 40 }),
        ([k0, k1, c1, c2, c3], first, nBlocks, nRows) => {
          const words = philoxRows(k0, k1, c1, c2, c3, first, nBlocks, nRows);
          const stride = 4 * Math.ceil(nBlocks / 4) * 4;
          for (let i = 0; i < nRows; i += 3) {
            for (let b = 0; b < nBlocks; b += 2) {
              const at = i * stride + 4 * b;
              expect(Array.from(words.subarray(at, at + 4))).toEqual(
                philoxBig([(first + b) >>> 0, c1, (c2 + i) >>> 0, c3], [k0, k1]),
              );
            }
          }
        },
      ),
      { seed: 4242, numRuns: 200 },
    );
  });
});

describe('without WebAssembly SIMD', () => {
  it('philoxRun and the sampler fall back to JavaScript with the same output', async () => {
    const { sample } = await import('../../src/core/sample.js');
    const data = Float64Array.from({ length: 3 * 700 }, (_, i) => Math.sin(i) * 3);
    const withSimd = sample(data, 3, 700, { seed: 5, n: 2 });
    vi.resetModules();
    vi.doMock('../../src/core/philox-simd.js', () => ({ philoxSimd: null, SIMD_MAX_BLOCKS: 4096 }));
    try {
      expect((await import('../../src/core/philox-simd.js')).philoxSimd).toBeNull();
      const philox = await import('../../src/core/philox.js');
      const words = philox.philoxRun(1, 2, 3, 4, 5, 6, 9);
      for (let i = 0; i < 9; i++) expect(Array.from(words.subarray(4 * i, 4 * i + 4))).toEqual(philoxBig([6 + i, 3, 4, 5], [1, 2]));
      const rows = philox.philoxRows(1, 2, 3, 0xffffffff, 5, 6, 3, 3);
      for (let i = 0; i < 3; i++) {
        for (let b = 0; b < 3; b++) {
          const at = 16 * i + 4 * b;
          expect(Array.from(rows.subarray(at, at + 4))).toEqual(philoxBig([6 + b, 3, (0xffffffff + i) >>> 0, 5], [1, 2]));
        }
      }
      const fallback = await import('../../src/core/sample.js');
      expect(fallback.sample).not.toBe(sample);
      expect(Array.from(fallback.sample(data, 3, 700, { seed: 5, n: 2 }))).toEqual(Array.from(withSimd));
    } finally {
      vi.doUnmock('../../src/core/philox-simd.js');
      vi.resetModules();
    }
  });
});
