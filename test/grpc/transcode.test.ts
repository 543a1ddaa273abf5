import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromRestAnswer } from '../../src/grpc/transcode.js';

/** fromRestAnswer reads an answer given whole or in any split into parts alike. */
describe('fromRestAnswer', () => {
  it('the same response from the whole answer and from its bytes cut anywhere', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 6 }), (a, b, cuts) => {
        const header = Buffer.from(
          JSON.stringify({
            model_name: 'm',
            model_version: '1',
            parameters: { seed: 7 },
            outputs: [
              { name: 'a', datatype: 'UINT8', shape: [a.length], parameters: { binary_data_size: a.length } },
              { name: 'labels', datatype: 'BYTES', shape: [2], data: ['x', 'yz'] },
              { name: 'b', datatype: 'UINT8', shape: [b.length], parameters: { binary_data_size: b.length } },
            ],
          }),
        );
        const whole = Buffer.concat([header, a, b]);
        const at = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((x, y) => x - y);
        const parts = [0, ...at].map((from, k) => whole.subarray(from, k < at.length ? at[k] : whole.length));
        const headers = { 'inference-header-content-length': String(header.length) };
        const one = fromRestAnswer(whole, headers);
        const cut = fromRestAnswer(parts, headers);
        expect(cut).toEqual(one);
        expect(one.raw_output_contents.map((x) => [...x])).toEqual([[...a], [1, 0, 0, 0, 120, 2, 0, 0, 0, 121, 122], [...b]]);
        expect(one.parameters).toEqual({ seed: { parameter_choice: 'int64_param', int64_param: '7' } });
      }),
    );
  });
});
