import { connect, type Socket } from 'node:net';

/**
 * Raw TCP clients for the connection-timeout tests: they send what they are told, when they are
 * told (nothing, a byte at a time), and record every byte the server sends and when it closes.
 */

export interface Closed {
  /** Milliseconds from connect to the close. */
  afterMs: number;
  /** Every byte received, as latin1 text. */
  received: string;
  /** An error code seen on the way (ECONNRESET), if any. */
  error?: string;
}

export interface SlowClient {
  socket: Socket;
  /** Milliseconds since the connection was made. */
  elapsed(): number;
  received(): string;
  closed: Promise<Closed>;
}

/** Connects to 127.0.0.1:port; resolves once connected. */
export function slowClient(port: number): Promise<SlowClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let t0 = 0;
    let received = '';
    let error: string | undefined;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const closed = new Promise<Closed>((done) =>
      socket.once('close', () => done({ afterMs: Date.now() - t0, received, ...(error ? { error } : {}) })),
    );
    socket.once('connect', () => {
      t0 = Date.now();
      socket.off('error', reject);
      socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      resolve({ socket, elapsed: () => Date.now() - t0, received: () => received, closed });
    });
    socket.once('error', reject);
  });
}

/** Writes text one byte every everyMs until it is all sent or the socket closes. */
export function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP/1.1 response in raw bytes (Content-Length framed, as all of ours are). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(m[1]), headers, body: raw.slice(end + 4, end + 4 + length) };
}

/** Every response in raw bytes, in order (for a keep-alive socket). */
export function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  while (raw.length > 0) {
    const r = parseResponse(raw);
    out.push(r);
    const end = raw.indexOf('\r\n\r\n') + 4 + Buffer.byteLength(r.body, 'latin1');
    raw = raw.slice(end);
  }
  return out;
}
