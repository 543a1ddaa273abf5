import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { FastifyInstance } from 'fastify';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Readable } from 'node:stream';
import { copyBytes } from '../codecs/copy.js';
import { ApiError } from '../errors.js';
import { ClientGone } from '../pool/jobs.js';
import { Cancel } from '../pool/cancel.js';
import type { Reservation } from '../pool/budget.js';
import { countRejected } from '../plugins/errors.js';
import { EXTENSIONS, VERSION, metadataOf, modelOf } from '../routes/v2.js';
import { ReceiveGate, receiveGateInterceptor, receiveSlots } from './receive-gate.js';
import type { Slabs } from '../pool/slabs.js';
import { fromRestAnswer, toRestBody, type ModelInferRequest, type ModelInferResponse } from './transcode.js';

/**
 * The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService, proto/grpc_service.proto)
 * on the same jobs as REST v2: a ModelInferRequest is turned into the REST v2 binary body and run
 * by the oip codec (./transcode.ts), so models, checks, messages, numbers, placement, limits and
 * the queue are REST v2's. Also grpc.health.v1.Health (grpc-health-check; "" and
 * "inference.GRPCInferenceService" follow readiness) and server reflection (@grpc/reflection).
 *
 * The server is made when it is first bound (./plugin.ts: listen() from src/server.ts with
 * GRPC_PORT), so that a service without gRPC does not load grpc-js (~20 MiB resident);
 * app.close() stops it first: new calls are refused (UNAVAILABLE), calls in flight finish, and
 * only then do the HTTP server and the pool close.
 *
 * Errors: the ApiError of REST v2, its message as the status's details, its status code mapped
 * as below; metrics as HTTP requests' with protocol="grpc", the route the method's path and the
 * status the gRPC code's name.
 */

export const SERVICE = 'inference.GRPCInferenceService';
const PROTO = fileURLToPath(new URL('../../proto/grpc_service.proto', import.meta.url));
/** Readiness is polled for the health service's Watch streams (ready() is cheap). */
const HEALTH_POLL_MS = 500;
/**
 * After the job timeout, a call still running at shutdown is cut off (its job has been abandoned);
 * with WRITE_GRACE_MS this stays within src/server.ts's drain (REQUEST_TIMEOUT_MS + 5 s).
 */
const SHUTDOWN_MARGIN_MS = 2000;
/** How long answers given at shutdown have to be written before the connections are cut. */
const WRITE_GRACE_MS = 1000;

/** The reason a reservation is released with (release() makes an Error per call otherwise). */
const RELEASED = new Error('the call has ended');

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

export interface GrpcOptions {
  maxBodyBytes: number;
  maxElements: number;
  inlineMaxBytes: number;
  requestTimeoutMs: number;
  memoryBudgetBytes: number;
  receiveTimeoutMs: number;
}

/** The service once made: listen binds it, close stops it (new calls refused, calls in flight finished). */
export interface GrpcService {
  /** Binds host:port (0: an ephemeral port) and starts serving; resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
  /** Calls reading their request message, bounded (./receive-gate.ts). */
  readonly gate: ReceiveGate;
}

/**
 * HTTP/2 streams a connection may have open (grpc.max_concurrent_streams; grpc-js and Node set
 * none): with the receive gate, each waiting stream holds at most its 64 KiB window, so this
 * bounds a connection's unread request data at ~6.4 MiB. Clients queue calls past it (grpc-js,
 * tritonclient's C core).
 */
export const MAX_CONCURRENT_STREAMS = 100;

/** A REST status as a gRPC status code (the issue-12 contract). */
export function grpcStatusOf(e: ApiError): grpc.status {
  switch (e.statusCode) {
    case 400:
      return grpc.status.INVALID_ARGUMENT;
    case 404:
      return grpc.status.NOT_FOUND;
    case 413:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 499:
      return grpc.status.CANCELLED;
    case 503:
      if (e.code === 'TIMEOUT') return grpc.status.DEADLINE_EXCEEDED;
      if (e.code === 'OVERLOADED') return grpc.status.RESOURCE_EXHAUSTED;
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.INTERNAL;
  }
}

/** An answer's bytes as the parts it was written in (not joined: fromRestAnswer reads them in place). */
async function collect(body: string | Buffer | Readable): Promise<Buffer[]> {
  if (typeof body === 'string') return [Buffer.from(body, 'utf8')];
  if (Buffer.isBuffer(body)) return [body];
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk as Buffer);
  return parts;
}

/** Raw outputs at least this big are written into a reused slab rather than a fresh buffer. */
const SLAB_ANSWER_BYTES = 64 * 1024;
/** gRPC's message prefix: a compressed flag and a 4-byte length. */
const FRAME_PREFIX = 5;

/**
 * The service definition with ModelInfer's answers encoded by protobufjs straight from the
 * handler's plain object (Type.encode). proto-loader's serializer first rebuilds it as a message
 * (Type.fromObject), which cost ~20 us of the ~25 us it took a small answer (a CPU profile under
 * load), then copies the bytes once more; the object is already in the message's shape
 * (fromRestAnswer), int64s as decimal text, which encode reads as fromObject does.
 *
 * Big answers (softmax 64x32000: 8 MB) are written into a reused slab (src/pool/slabs.ts) instead
 * of a fresh buffer per call, whose pages and garbage cost more than the copy: protobufjs encodes
 * everything but raw_output_contents, and each raw output follows as protobufjs's key and length
 * (a Writer) and its bytes, which is the same encoding, since that field is the message's last.
 * grpc-js copies the serialised message into its frame before callback() returns
 * (server-interceptors.js serializeMessage), after which the slab goes back (afterEncode).
 */
function withDirectAnswers(definition: grpc.ServiceDefinition, afterEncode: WeakMap<object, () => void>, slabs: Slabs): grpc.ServiceDefinition {
  const root = new protobuf.Root();
  root.loadSync(PROTO, { keepCase: true });
  const answer = root.lookupType('inference.ModelInferResponse');
  const raw = answer.fields.raw_output_contents;
  const rawLast = answer.fieldsArray.every((f) => f.id <= raw.id);
  const asBuffer = (bytes: Uint8Array) => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const responseSerialize = (value: object) => {
    const raws = (value as ModelInferResponse).raw_output_contents ?? [];
    let rawBytes = 0;
    for (const r of raws) rawBytes += r.length;
    if (!rawLast || rawBytes < SLAB_ANSWER_BYTES) {
      const bytes = answer.encode(value).finish();
      // The answer's tensors are copied into its bytes: reused memory they were in can go back.
      runAfterEncode(afterEncode, value);
      return asBuffer(bytes);
    }
    const head = answer.encode({ ...value, raw_output_contents: [] }).finish();
    const keys = raws.map((r) => protobuf.Writer.create().uint32(((raw.id << 3) | 2) >>> 0).uint32(r.length).finish());
    // The message starts FRAME_PREFIX bytes into its slab: grpc-js copies it into a fresh frame
    // after a 5-byte prefix, and V8 copies out of shared memory a word at a time only when both
    // sides are aligned alike, a byte at a time otherwise (~8 ms for these 8 MB, measured).
    const size = head.length + keys.reduce((n, k) => n + k.length, 0) + rawBytes;
    const slab = slabs.take(FRAME_PREFIX + size);
    const out = slab.subarray(FRAME_PREFIX, FRAME_PREFIX + size);
    out.set(head, 0);
    let at = head.length;
    raws.forEach((r, k) => {
      out.set(keys[k], at);
      at += keys[k].length;
      copyBytes(out, r, at); // both may be shared memory: ../codecs/copy.ts
      at += r.length;
    });
    runAfterEncode(afterEncode, value);
    afterEncode.set(value, () => slabs.give(slab));
    return out;
  };
  return { ...definition, ModelInfer: { ...definition.ModelInfer, responseSerialize } };
}

function runAfterEncode(afterEncode: WeakMap<object, () => void>, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const release = afterEncode.get(value);
  if (!release) return;
  afterEncode.delete(value);
  release();
}

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

/** Makes the service on the app's jobs (loaded and called by ./plugin.ts when gRPC is first bound). */
export function createGrpcService(app: FastifyInstance, opts: GrpcOptions): GrpcService {
  const pkg = protoLoader.loadSync(PROTO, LOADER_OPTIONS);
  const health = protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS);
  const service = (grpc.loadPackageDefinition(pkg).inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  const gate = new ReceiveGate(receiveSlots(opts.memoryBudgetBytes, opts.maxBodyBytes));
  const receiving = receiveGateInterceptor(gate, opts.receiveTimeoutMs);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxBodyBytes,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    // Messages are read only as the memory they may hold allows (./receive-gate.ts).
    interceptors: [receiving.interceptor],
    // Answers are bounded by MAX_ELEMENTS and the memory budget, as REST's are (not by
    // MAX_BODY_BYTES); the client sets its own receive limit (tritonclient: unlimited).
    'grpc.max_send_message_length': -1,
  });
  let closing = false;
  // REST's load shedding (@fastify/under-pressure, src/app.ts) applies to gRPC too: readiness
  // and inference refuse while the event loop is stalled; liveness and metadata still answer.
  const ready = () => !closing && app.jobs.ready() && !app.isUnderPressure();

  const healthImpl = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' });
  let shown: ServingStatus = 'NOT_SERVING';
  const showReadiness = () => {
    const now: ServingStatus = ready() ? 'SERVING' : 'NOT_SERVING';
    if (now === shown) return;
    shown = now;
    healthImpl.setStatus('', now);
    healthImpl.setStatus(SERVICE, now);
  };
  healthImpl.addToServer(server);
  new ReflectionService({ ...pkg, ...health }).addToServer(server);

  const limits = { maxElements: opts.maxElements };
  /** Unary calls being answered (shutdown waits for them; health Watch streams are not counted). */
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const route = (method: string) => `/${SERVICE}/${method}`;

  /**
   * Answers whose raw outputs are views of reused shared memory (a slab, src/pool/slabs.ts), and
   * the release that gives it back: run by the serialiser once the bytes are encoded, else after
   * the callback (grpc-js 1.14 serialises within callback(), or never when the call is gone).
   */
  const afterEncode = new WeakMap<object, () => void>();

  /** The batch shape of a ModelInfer call, for its access-log line (as REST's req.anymax). */
  const shapes = new WeakMap<object, { rows: number; cols: number }>();

  /**
   * One RPC: its answer or its ApiError as a status; observed in the request metrics and
   * logged in one access-log line, as an HTTP request is (src/app.ts).
   */
  const unary =
    (method: string, handler: Handler) =>
    (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const t0 = performance.now();
      inFlight++;
      const done = (status: grpc.status) => {
        const ms = performance.now() - t0;
        app.metrics.observeRequest(route(method), 'POST', grpc.status[status], ms / 1000, undefined, 'grpc');
        const shape = shapes.get(call);
        app.log.info({ route: route(method), protocol: 'grpc', status: grpc.status[status], rows: shape?.rows, cols: shape?.cols, durationMs: Number(ms.toFixed(3)) }, 'request');
        if (--inFlight === 0) idle?.();
      };
      handler(call).then(
        (value) => {
          callback(null, value);
          runAfterEncode(afterEncode, value);
          done(grpc.status.OK);
        },
        (err: unknown) => {
          const e = err instanceof ApiError ? err : new ApiError(500, 'INTERNAL', 'internal server error');
          if (!(err instanceof ApiError)) app.log.error({ err, method }, 'unhandled error in a gRPC call');
          else if (e.statusCode < 500 && e.statusCode !== 499) countRejected(app, e);
          const code = grpcStatusOf(e);
          callback({ code, details: e.message });
          done(code);
        },
      );
    };

  const model = (name: unknown, version: unknown) => modelOf({ model: String(name ?? ''), version: version ? String(version) : undefined });

  const implementation: grpc.UntypedServiceImplementation = {
    ServerLive: unary('ServerLive', async () => ({ live: true })),
    ServerReady: unary('ServerReady', async () => ({ ready: ready() })),
    ModelReady: unary('ModelReady', async (call) => {
      const r = call.request as { name?: string; version?: string };
      model(r.name, r.version);
      return { ready: ready() };
    }),
    ServerMetadata: unary('ServerMetadata', async () => ({
      name: 'anymax',
      version: VERSION,
      // Triton's binary tensor data and the model repository are REST's alone.
      extensions: EXTENSIONS.filter((x) => x !== 'binary_tensor_data' && x !== 'model_repository'),
    })),
    ModelMetadata: unary('ModelMetadata', async (call) => {
      const r = call.request as { name?: string; version?: string };
      return metadataOf(model(r.name, r.version));
    }),
    ModelInfer: unary('ModelInfer', async (call) => {
      if (closing) {
        app.metrics.rejected.inc({ reason: 'shutting_down' });
        throw new ApiError(503, 'SHUTTING_DOWN', 'the service is shutting down', undefined, 1);
      }
      if (app.isUnderPressure()) {
        app.metrics.rejected.inc({ reason: 'overloaded' });
        throw new ApiError(503, 'OVERLOADED', 'the service is overloaded (its event loop is stalled); retry later', undefined, 1);
      }
      return infer(call);
    }),
  };

  async function infer(call: grpc.ServerUnaryCall<unknown, unknown>) {
    const req = call.request as ModelInferRequest;
    const op = model(req.model_name, req.model_version);
    // The client leaving (or its deadline passing: grpc-js cancels the call) drops its job.
    // grpc-js also reports 'cancelled' once a finished call's stream closes: the listener
    // goes when the handler is done (an abort then cost a ClientGone, ~10 us a call).
    const gone = new Cancel();
    const onCancel = () => gone.abort(new ClientGone());
    call.once('cancelled', onCancel);
    if (call.cancelled) onCancel();
    // The body is built in a reused slab when a worker will read it (as REST's big bodies are).
    const size = (req.raw_input_contents ?? []).reduce((s, b) => s + b.length, 0);
    const big = size > opts.inlineMaxBytes;
    let reservation: Reservation | undefined;
    try {
      reservation = await app.jobs.budget.acquire(big ? app.jobs.estimate(size + 4096) : 0, big ? gone.signal : undefined);
      gone.throwIfAborted();
      const { body, headerLength } = toRestBody(req, limits, (n) => (n > opts.inlineMaxBytes ? app.jobs.slabs.take(n) : Buffer.allocUnsafeSlow(n)));
      const out = await app.jobs.run('oip', op.name, body, { cancel: gone, reservation }, { headerLength });
      let answer: Buffer[];
      try {
        answer = await collect(out.body);
      } catch (e) {
        out.release?.();
        throw e;
      }
      shapes.set(call, { rows: out.rows, cols: out.cols });
      // The answer's parts (binary outputs written by the workers in reused shared memory, which
      // out.release gives back) are read in place and given back once the reply is encoded
      // (afterEncode), not copied first (8 MB for softmax 64x32000).
      if (!out.release) return fromRestAnswer(answer, out.headers);
      let res: ReturnType<typeof fromRestAnswer>;
      try {
        res = fromRestAnswer(answer, out.headers);
      } catch (e) {
        out.release();
        throw e;
      }
      afterEncode.set(res, out.release);
      return res;
    } finally {
      call.off('cancelled', onCancel);
      reservation?.release(RELEASED);
    }
  }
  server.addService(withDirectAnswers(service.service, afterEncode, app.jobs.slabs), implementation);

  let timer: NodeJS.Timeout | undefined;
  let started = false;
  return {
    gate,
    async listen(host, port) {
      const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      started = true;
      showReadiness();
      timer = setInterval(showReadiness, HEALTH_POLL_MS).unref();
      return bound;
    },
    // Before the HTTP server and the pool close (./plugin.ts): refuse new calls, let those in flight finish.
    async close() {
      closing = true;
      if (timer) clearInterval(timer);
      receiving.stop();
      showReadiness();
      if (!started) return;
      // tryShutdown stops taking calls and waits for every open call, which includes health
      // Watch streams that never end: once the unary calls in flight are answered (or their job
      // timeout has surely passed), their answers get a moment to be written, then what is left
      // is cut off.
      const shutdown = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idle = resolve));
      const timers: NodeJS.Timeout[] = [];
      const after = (ms: number) => new Promise<void>((resolve) => timers.push(setTimeout(resolve, ms).unref()));
      await Promise.race([drained, after(opts.requestTimeoutMs + SHUTDOWN_MARGIN_MS)]);
      await Promise.race([shutdown, after(WRITE_GRACE_MS)]);
      for (const t of timers) clearTimeout(t);
      server.forceShutdown();
      await shutdown;
    },
  };
}
