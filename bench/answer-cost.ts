/**
 * The writing costs behind the OIP codec's answer estimate (src/codecs/oip-answer.ts
 * answerCostNs, used for placement by src/pool/cost.ts), one thread, worst cases:
 *   npx tsx bench/answer-cost.ts
 * classification by insertion on ascending rows (every value moves the whole top-N list), per
 * value x (1 + N); by sort beyond 32 classes, per value x log2(width); a label; binary values
 * (writeInto, aligned and not); JSON numbers. Median of 15 runs after a warm-up.
 */
import { chunk, writeInto } from '../src/codecs/oip-answer.js';

const t = (name: string, fn: () => void, units: number) => {
  for (let i = 0; i < 5; i++) fn();
  const xs: number[] = [];
  for (let k = 0; k < 15; k++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${((xs[7] * 1e6) / units).toFixed(2).padStart(8)} ns`);
};
const width = 4096;
const rows = 8;
const asc = Float64Array.from({ length: rows * width }, (_, k) => (k % width) / width);
const rnd = Float64Array.from({ length: rows * width }, (_, k) => Math.abs(Math.sin(k * 12.9898)));
for (const n of [1, 8, 32]) t(`classify, insertion, N=${n}: per value x (1+N)`, () => chunk(asc, width, `c:FP64:${n}`, 0, rows * width), rows * width * (1 + n));
for (const n of [33, 1000]) t(`classify, sort, N=${n}: per value x log2(width)`, () => chunk(rnd, width, `c:FP32:${n}`, 0, rows * width), rows * width * Math.log2(width));
const big = Float64Array.from({ length: 1 << 20 }, (_, k) => Math.sin(k));
const ints = Int32Array.from({ length: 1 << 20 }, (_, k) => k);
const dest = new Uint8Array((1 << 20) * 8 + 3);
for (const [form, src, size] of [['b:FP32', big, 4], ['b:FP64', big, 8], ['b:INT64', ints, 8]] as const) {
  t(`writeInto ${form}, aligned: per value`, () => writeInto(src, form, dest.subarray(0, src.length * size)), src.length);
  t(`writeInto ${form}, unaligned: per value`, () => writeInto(src, form, dest.subarray(3, 3 + src.length * size)), src.length);
}
t('JSON numbers (FP64): per value', () => chunk(big, 1, 'j:FP64', 0, 1 << 16), 1 << 16);
t('classification labels ("<value>:<index>"): per label', () => chunk(rnd, 1, 'c:FP64:1', 0, rows * width), rows * width);
