import * as grpc from '@grpc/grpc-js';

/**
 * A bound on the memory held by gRPC request messages before the service can count them.
 *
 * grpc-js reads a call's whole message (up to grpc.max_receive_message_length = MAX_BODY_BYTES)
 * into its own buffers and decodes it before the handler sees it; only then can the handler put
 * it in the memory budget (src/pool/budget.ts). Nothing in grpc-js 1.14 shows the message's
 * length to the application earlier: the 5-byte length prefix is read inside its StreamDecoder
 * (stream-decoder.js), which only compares it with max_receive_message_length, and gRPC requests
 * carry no content-length. What grpc-js does let a server interceptor do is hold a call before
 * its message is read: the call's HTTP/2 stream stays paused until the listener's
 * onReceiveMetadata passes the metadata on (handleUnary calls startRead then, which resumes the
 * stream; server-interceptors.js). A paused stream's data waits in the client, held back by
 * HTTP/2 flow control: the server buffers at most its stream window (Node's default 64 KiB).
 *
 * So the gate lets at most `slots` calls of the process read their message at once; the others
 * wait, first come first served, paused. A call leaves the gate when its message has been decoded
 * (the handler then accounts for it), when it ends, or after `timeoutMs` without a whole message
 * (it is then ended with DEADLINE_EXCEEDED, as a REST body that does not arrive within
 * RECEIVE_TIMEOUT_MS is; found by a periodic sweep, so up to a quarter of that, 1 s at most, later). The memory held by messages not yet accounted for is therefore at most
 *   slots x 2 x max_receive_message_length    (the frames, and their concatenation into one message)
 * + open streams x 64 KiB                     (the window of each waiting stream)
 * where open streams <= connections x grpc.max_concurrent_streams. grpc-js has no cap on
 * connections (its http2 servers are internal), so that last term grows with connections, 64 KiB
 * a stream, as REST's does with connections' unread bodies up to the inline size.
 *
 * The cost: a message is read only when a slot is free, so a big upload in progress delays the
 * small calls behind it by its reading time (a slow client by up to timeoutMs).
 */
export class ReceiveGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most calls reading at once so far, and how many calls had to wait (tests). */
  peak = 0;
  waited = 0;

  constructor(readonly slots: number) {}

  /** Calls `go` once a slot is free; the returned leave() frees it (or drops the wait), once. */
  enter(go: () => void): () => void {
    let state: 'waiting' | 'in' | 'out' = 'waiting';
    const admit = () => {
      state = 'in';
      this.active++;
      if (this.active > this.peak) this.peak = this.active;
      go();
    };
    if (this.active < this.slots && this.waiting.length === 0) admit();
    else {
      this.waited++;
      this.waiting.push(admit);
    }
    return () => {
      if (state === 'out') return;
      if (state === 'waiting') {
        const i = this.waiting.indexOf(admit);
        if (i >= 0) this.waiting.splice(i, 1);
      } else {
        this.active--;
        while (this.active < this.slots && this.waiting.length > 0) this.waiting.shift()!();
      }
      state = 'out';
    };
  }

  /** Calls reading a message now. */
  get reading(): number {
    return this.active;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
}

/**
 * Slots for a process: messages not yet accounted for stay within half its memory budget
 * (slots x 2 x the largest message <= budget / 2), at least one.
 */
export function receiveSlots(memoryBudgetBytes: number, maxMessageBytes: number): number {
  return Math.max(1, Math.floor(memoryBudgetBytes / (4 * maxMessageBytes)));
}

/**
 * The server interceptor that puts every call through the gate (see ReceiveGate), and its
 * watch: calls holding a slot longer than `timeoutMs` are ended by a sweep every
 * min(1 s, timeoutMs / 4) (one timer for the gate: a timer per call cost more, measured under load).
 */
export function receiveGateInterceptor(gate: ReceiveGate, timeoutMs: number): { interceptor: grpc.ServerInterceptor; stop(): void } {
  /** Calls reading their message: when they took their slot, and how to end them. */
  const holders = new Map<() => void, number>();
  const sweep = setInterval(() => {
    const late = performance.now() - timeoutMs;
    for (const [cut, since] of holders) if (since <= late) cut();
  }, Math.max(1, Math.min(1000, timeoutMs / 4))).unref();
  const interceptor: grpc.ServerInterceptor = (_method, call) => {
    let leave: (() => void) | undefined;
    const cut = () => {
      done();
      call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: `the request message did not arrive within ${timeoutMs} ms (RECEIVE_TIMEOUT_MS)` });
    };
    const done = () => {
      if (!leave) return;
      holders.delete(cut);
      leave();
      leave = undefined;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            leave = gate.enter(() => {
              holders.set(cut, performance.now());
              pass(metadata);
            });
          },
          onReceiveMessage: (message, pass) => {
            done();
            pass(message);
          },
          onReceiveHalfClose: (pass) => {
            done();
            pass();
          },
          onCancel: done,
        }),
      sendStatus: (status, pass) => {
        done();
        pass(status);
      },
    });
  };
  return { interceptor, stop: () => clearInterval(sweep) };
}
