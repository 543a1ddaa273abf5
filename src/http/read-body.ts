import type { Readable } from 'node:stream';
import { copyBytes } from '../codecs/copy.js';
import { ApiError, badRequest } from '../errors.js';
import { passedThrough } from '../pool/collect.js';

/**
 * Reads a request body into one Buffer of its own, allocated once at the declared length
 * (Content-Length) and filled as chunks arrive. Fastify's own reader keeps every chunk and then
 * concatenates them, which holds the body twice at its peak; here it is held once, and the
 * Buffer owns its whole ArrayBuffer, so the pool can move it to a worker without a copy.
 *
 * A body without Content-Length (chunked) grows by doubling; each time it outgrows what was
 * reserved for it, `grow` is awaited with the stream paused (the memory budget may make it wait,
 * or refuse it).
 */
export interface ReadBodyOptions {
  /** The declared Content-Length, or undefined for a chunked body. */
  contentLength: number | undefined;
  /** Largest accepted body (MAX_BODY_BYTES). */
  limit: number;
  /** Bytes already reserved for the body (0: call grow before holding any). */
  allowance: number;
  /** Reserves room for a body of `bytes`; throws (ApiError) to refuse. */
  grow(bytes: number): Promise<void>;
  /** Where a body of declared length goes (default: a Buffer of its own, Buffer.allocUnsafeSlow). */
  alloc?(bytes: number): Buffer;
}

export const tooLarge = (limit: number) =>
  new ApiError(413, 'PAYLOAD_TOO_LARGE', `the request body is over the limit of ${limit} bytes`);

export function readBody(payload: Readable, opts: ReadBodyOptions): Promise<Buffer> {
  const { contentLength, limit } = opts;
  if (contentLength !== undefined && contentLength > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    let buf = contentLength !== undefined && opts.alloc ? opts.alloc(contentLength) : Buffer.allocUnsafeSlow(contentLength ?? Math.min(opts.allowance, 64 * 1024));
    let length = 0;
    let allowance = contentLength ?? opts.allowance;
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      payload.resume(); // drain what is left, so the connection can answer
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      const need = length + chunk.length;
      if (need > limit) return fail(tooLarge(limit));
      if (contentLength !== undefined && need > contentLength) return fail(badRequest('the request body is longer than its Content-Length'));
      if (need > buf.length) {
        // Chunked: double, after reserving room for the bigger body.
        const size = Math.min(limit, Math.max(need, buf.length * 2));
        if (size > allowance) {
          payload.pause();
          opts.grow(size).then(
            () => {
              allowance = size;
              append(chunk, size);
              payload.resume();
            },
            fail,
          );
          return;
        }
        append(chunk, size);
        return;
      }
      copyBytes(buf, chunk, length); // a slab is shared memory: see ../codecs/copy.ts
      length = need;
      passedThrough(chunk.length);
    };
    const append = (chunk: Buffer, size: number) => {
      if (settled) return;
      if (size > buf.length) {
        const bigger = Buffer.allocUnsafeSlow(size);
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      copyBytes(buf, chunk, length);
      length += chunk.length;
      passedThrough(chunk.length);
    };
    const onEnd = () => {
      if (settled) return;
      if (contentLength !== undefined && length !== contentLength) return fail(badRequest('the request body is shorter than its Content-Length'));
      settled = true;
      cleanup();
      // A chunked body is copied once more into a Buffer of its exact size, so that the pool
      // can move it whole; a declared one already is.
      resolve(length === buf.length ? buf : Buffer.from(Uint8Array.prototype.slice.call(buf, 0, length).buffer));
    };
    const onError = (e: Error) => fail(Object.assign(badRequest(`the request body could not be read: ${e.message}`), { cause: e }));
    const cleanup = () => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });
}
