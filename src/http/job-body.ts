import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Reservation } from '../pool/budget.js';
import { Cancel } from '../pool/cancel.js';
import { ClientGone } from '../pool/jobs.js';
import { readBody } from './read-body.js';

/**
 * What the routes that run jobs (/v1, the /v2 infer routes) share about a request's body: its
 * memory reservation and cancellation, set before it is read, and reading it into one Buffer.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's share of the memory budget (src/pool/budget.ts), returned when its answer is done. */
    reservation?: Reservation;
    /** Aborted if the client goes before its answer is written. */
    clientGone?: Cancel;
  }
}

export interface BodyLimits {
  maxBodyBytes: number;
  inlineMaxBytes: number;
}

/**
 * Before the body is read: reserve memory for it from its declared length (a small inline body
 * needs none), and tie the reservation and the job's cancellation to the connection. The
 * connection is watched before the wait for memory: a client that leaves while waiting leaves
 * the budget's queue, and one gone by the time room is found takes none. For the routes of the
 * plugin (encapsulation context) it is called in.
 */
export function reserveBeforeBody(app: FastifyInstance, opts: BodyLimits): void {
  app.addHook('preParsing', async (req, reply) => {
    const length = declaredLength(req) ?? 0;
    const reserve = length > opts.inlineMaxBytes && length <= opts.maxBodyBytes ? app.jobs.estimate(length) : 0;
    const gone = new Cancel();
    req.clientGone = gone;
    reply.raw.once('close', () => {
      req.reservation?.release();
      // writableEnded, not writableFinished: inject()'s responses are never 'finished'.
      if (!reply.raw.writableEnded) gone.abort(new ClientGone());
    });
    // Closed before this hook ran (its 'close' has been emitted already).
    if (reply.raw.destroyed) gone.abort(new ClientGone());
    gone.throwIfAborted();
    // Nothing to reserve never waits, so its signal is not made (./pool/cancel.ts).
    const reservation = await app.jobs.budget.acquire(reserve, reserve > 0 ? gone.signal : undefined);
    if (gone.aborted) {
      reservation.release();
      throw gone.reason;
    }
    req.reservation = reservation;
  });
}

/**
 * Reads a body stream as bytes (src/http/read-body.ts) within MAX_BODY_BYTES, growing the
 * request's reservation as a body of unknown length (chunked, or decoded) grows. `declared` is
 * the stream's length if known (Content-Length of an unencoded body); a declared body too big to
 * be parsed inline is read into a slab of reused shared memory (src/pool/slabs.ts), which a
 * worker reads in place.
 */
export function readJobBody(app: FastifyInstance, req: FastifyRequest, payload: Readable, opts: BodyLimits, declared: number | undefined): Promise<Buffer> {
  const reservation = req.reservation;
  return readBody(payload, {
    contentLength: declared,
    limit: opts.maxBodyBytes,
    // A small body needs no reservation; a chunked one reserves as it grows (and stops
    // waiting for room, or taking it, once its client has gone).
    allowance: opts.inlineMaxBytes,
    grow: async (bytes) => reservation?.resize(app.jobs.estimate(bytes), req.clientGone?.signal),
    alloc: (bytes) => (bytes > opts.inlineMaxBytes ? app.jobs.slabs.take(bytes) : Buffer.allocUnsafeSlow(bytes)),
  });
}

/** The request's Content-Length as a number, or undefined. */
export function declaredLength(req: FastifyRequest): number | undefined {
  const declared = req.headers['content-length'];
  return declared === undefined ? undefined : Number(declared);
}
