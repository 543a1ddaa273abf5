import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../../src/codecs/copy.js';
import { readBinary } from '../../src/codecs/oip-tensor.js';

/** copyBytes (src/codecs/copy.ts) is dst.set(src, at), whichever side is shared and however aligned. */

const buffer = (shared: boolean, bytes: number): Uint8Array => new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));

describe('copyBytes', () => {
  it('equals dst.set(src, at) for shared and ordinary buffers at any offsets and lengths (property)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 65_000, max: 140_000 })),
        (srcShared, dstShared, srcOffset, dstOffset, at, length) => {
          const src = buffer(srcShared, srcOffset + length).subarray(srcOffset);
          for (let k = 0; k < length; k++) src[k] = (k * 131 + 7) & 255;
          const dst = buffer(dstShared, dstOffset + at + length + 5).subarray(dstOffset);
          dst.fill(0xee);
          const want = new Uint8Array(dst.length).fill(0xee);
          want.set(src, at);
          copyBytes(dst, src, at);
          expect(Buffer.from(dst.buffer, dst.byteOffset, dst.length).equals(Buffer.from(want))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('binary tensors read from shared memory at any offset are the same values', () => {
    const n = 40_000; // more than one step of the readers' scratch (16K elements)
    const values = Float64Array.from({ length: n }, (_, k) => Math.sin(k) * 10 ** ((k % 9) - 4));
    const f32 = new Uint8Array(Float32Array.from(values).buffer);
    const f64 = new Uint8Array(values.buffer);
    const half = new Uint8Array(Uint16Array.from({ length: n }, (_, k) => (k * 2654435761) & 0x7bff).buffer); // finite FP16 and BF16 patterns
    for (const [datatype, bytes] of [['FP32', f32], ['FP64', f64], ['FP16', half], ['BF16', half]] as const) {
      for (const pad of [0, 1, 3, 6]) {
        const plain = new Uint8Array(pad + bytes.length);
        plain.set(bytes, pad);
        const shared = buffer(true, pad + bytes.length);
        shared.set(bytes, pad);
        const a = new Float64Array(n);
        const b = new Float64Array(new SharedArrayBuffer(n * 8));
        readBinary(plain, pad, datatype, n, a);
        readBinary(shared, pad, datatype, n, b);
        expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer)), `${datatype}, offset ${pad}`).toBe(true);
      }
    }
  });
});
