import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';

/**
 * Connection timeouts and shutdown. What each timeout does when it fires (Node 20):
 *  - headers / receive: Node's periodic connection check fails the connection with
 *    ERR_HTTP_REQUEST_TIMEOUT through the server's 'clientError' handler, which answers 408 and
 *    closes. Both run from the request's first byte; a connection that sends nothing is timed
 *    from its accept, so it is covered too.
 *  - keep-alive idle and socket inactivity: socket.setTimeout; with no 'timeout' listener, Node
 *    closes the socket without a word. An idle keep-alive socket is closed 1 s after
 *    keepAliveTimeout (Node's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER), while the response advertises
 *    Keep-Alive: timeout=floor(keepAliveTimeout / 1000), so a client that reads it lets go first.
 */

type Timeouts = Pick<Config, 'headersTimeoutMs' | 'receiveTimeoutMs' | 'keepAliveTimeoutMs' | 'socketInactivityTimeoutMs'>;

/** Fastify options for the four timeouts (spread into Fastify({...})). */
export function serverTimeouts(c: Timeouts): {
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http: ServerOptions;
} {
  return {
    connectionTimeout: c.socketInactivityTimeoutMs,
    keepAliveTimeout: c.keepAliveTimeoutMs,
    requestTimeout: c.receiveTimeoutMs,
    // headersTimeout is not a Fastify option; Fastify hands `http` to http.createServer. Node checks
    // both deadlines only every connectionsCheckingInterval (30 s by default): a second, or less for
    // short timeouts, bounds how late a connection is closed.
    http: {
      headersTimeout: c.headersTimeoutMs,
      requestTimeout: c.receiveTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(c.headersTimeoutMs / 4))),
    },
  };
}

/**
 * On close (SIGTERM: src/server.ts calls app.close()), every connection that has no request in
 * flight is closed at once: idle keep-alive ones, and stalled ones - nothing sent yet, headers or
 * body still arriving. Node's server.close() closes only the idle keep-alive ones (and stops the
 * header / receive checks), so a stalled socket used to hold the process until the grace period.
 * In flight means the request has fully arrived (its handler runs or is about to) and its answer is
 * not yet written: it finishes, with Connection: close (src/app.ts). A request whose body is still
 * arriving is cut off: its handler has not started, and a client cannot be told anything mid-upload
 * without racing its bytes.
 */
export default fp(
  async function connectionsPlugin(app: FastifyInstance) {
    const open = new Set<Socket>();
    // Per socket, the requests not yet answered (more than one when pipelined).
    const pending = new WeakMap<Socket, Set<IncomingMessage>>();
    let closing = false;

    app.server.on('connection', (socket: Socket) => {
      // Accepted between close starting and the listener closing: nothing of it is in flight.
      if (closing) return void socket.destroy();
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      let set = pending.get(req.socket);
      if (set === undefined) pending.set(req.socket, (set = new Set()));
      set.add(req);
      const done = () => set.delete(req);
      res.once('finish', done);
      res.once('close', done);
    });

    app.addHook('preClose', async () => {
      closing = true;
      let closed = 0;
      for (const socket of open) {
        if (socket.destroyed) continue; // its 'close' is on its way
        if ([...(pending.get(socket) ?? [])].some((req) => req.complete)) continue;
        socket.destroy();
        closed++;
      }
      const inFlight = [...open].filter((s) => !s.destroyed).length;
      app.log.info({ closed, inFlight }, 'closed idle and stalled connections');
    });
  },
  { name: 'anymax-connections' },
);
