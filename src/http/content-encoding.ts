import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { ApiError, badRequest, quote } from '../errors.js';
import { tooLarge } from './read-body.js';

/**
 * Request bodies sent with Content-Encoding gzip or deflate (tritonclient's
 * request_compression_algorithm), decoded as they arrive by Node's zlib streams. The decoded size
 * is what counts against MAX_BODY_BYTES (and the memory budget, through `read`): a gzip bomb is
 * refused with 413 as soon as its output passes the limit, and the rest of it is never inflated.
 * The encoded bytes count against the same limit.
 */

export type ContentCoding = 'identity' | 'gzip' | 'deflate';


/** The request's coding; 415 for any other (or a list of several). */
export function contentCodingOf(header: string | string[] | undefined): ContentCoding {
  if (header === undefined) return 'identity';
  const value = String(header).trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${quote(String(header))} is not supported (gzip, deflate or identity)`);
}

/**
 * Reads `payload` decoded by `coding` with `read` (which bounds and reserves the decoded bytes);
 * `declared` is the encoded length (Content-Length), if given. Errors: 413 past `limit`, 400 for
 * data that is not valid for its coding (deflate is the zlib format, as HTTP defines it).
 */
export async function readDecoded(
  payload: Readable,
  coding: 'gzip' | 'deflate',
  limit: number,
  declared: number | undefined,
  read: (decoded: Readable) => Promise<Buffer>,
): Promise<Buffer> {
  if (declared !== undefined && declared > limit) {
    payload.resume();
    throw tooLarge(limit);
  }
  const z = coding === 'gzip' ? createGunzip() : createInflate();
  let encoded = 0;
  const onData = (chunk: Buffer) => {
    encoded += chunk.length;
    if (encoded > limit) z.destroy(tooLarge(limit));
  };
  const onError = (e: Error) => z.destroy(e);
  payload.on('data', onData);
  payload.on('error', onError);
  payload.pipe(z);
  try {
    return await read(z);
  } catch (e) {
    // Stop inflating (a bomb's rest is never decoded) and let the connection drain.
    payload.unpipe(z);
    z.destroy();
    payload.resume();
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof ApiError) throw cause;
    if (e instanceof ApiError && e.code === 'PAYLOAD_TOO_LARGE') {
      throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the request body, decoded (Content-Encoding ${coding}), is over the limit of ${limit} bytes`);
    }
    const code = (cause as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw badRequest(`the request body is not valid ${coding} data (Content-Encoding ${coding}): ${(cause as Error).message}`);
    }
    throw e;
  } finally {
    payload.off('data', onData);
    payload.off('error', onError);
  }
}
