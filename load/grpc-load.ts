/**
 * The load harness's gRPC load generator (load/run.ts's gRPC scenarios): a bounded grpc-js
 * client of inference.GRPCInferenceService/ModelInfer, made cheap per call with grpc-js's own API.
 *
 * - The request is serialised once (the proto-loader service definition's requestSerialize) and
 *   every call sends those bytes through client.makeUnaryRequest with identity (de)serialisers:
 *   no protobuf work per call on this side; answers stay raw bytes (decodeAnswer reads one, for
 *   the check before the load).
 * - No per-call deadline (a timer per call): the run is bounded by time instead. Calls are
 *   started until the window ends; those still open `graceMs` later are cancelled and counted
 *   as timeouts.
 * - Channels: `channels` HTTP/2 connections (a distinct channel option each, or grpc-js would
 *   share one subchannel), call k on channel k mod channels. With a cluster of serving
 *   processes each connection lands on one process, so channels >= processes.
 * - Retries and channelz off (grpc.enable_retries, grpc.enable_channelz): the retry layer
 *   buffers every message and channelz counts every call; a load generator needs neither.
 * - A receive window of FLOW_CONTROL_WINDOW a stream (grpc-node.flow_control_window): grpc-js
 *   keeps HTTP/2's 64 KiB, so an 8 MB answer took ~128 window updates and the answer's chunks
 *   lived long enough to be collected as old objects (measured: generator 38 -> 27-29 ms and
 *   service 76 -> 64-66 ms of CPU a softmax 64x32000 call). The clients the service has (gRPC
 *   C-core in tritonclient, grpc-go) grow their windows by bandwidth-delay probing instead.
 */

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('../proto/grpc_service.proto', import.meta.url));
export const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';

export interface ModelInferAnswer {
  model_name: string;
  model_version: string;
  parameters?: Record<string, { int64_param?: string }>;
  outputs: { name: string; datatype: string; shape: string[] }[];
  raw_output_contents: Buffer[];
}

let method: protoLoader.MethodDefinition<object, object> | undefined;
function modelInfer(): protoLoader.MethodDefinition<object, object> {
  if (!method) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    method = (def['inference.GRPCInferenceService'] as protoLoader.ServiceDefinition).ModelInfer as protoLoader.MethodDefinition<object, object>;
  }
  return method;
}

/** A ModelInferRequest (proto-loader's object form: keepCase, int64 as text) as its wire bytes. */
export function encodeRequest(request: object): Buffer {
  return modelInfer().requestSerialize(request);
}

/** A ModelInferResponse's wire bytes, decoded. */
export function decodeAnswer(bytes: Buffer): ModelInferAnswer {
  return modelInfer().responseDeserialize(bytes) as ModelInferAnswer;
}

const identity = (b: Buffer) => b;

/** grpc-go's ceiling for the window its BDP probing grows (bdpLimit, 16 MiB). */
const FLOW_CONTROL_WINDOW = 16 << 20;

export interface GrpcRunResult {
  /** Answers with status OK inside the window. */
  ok: number;
  /** Calls answered with another status, by its name (UNAVAILABLE, ...). */
  statusCodes: Record<string, number>;
  failed: number;
  /** Calls still open `graceMs` after the window, cancelled. */
  timeouts: number;
  /** Each OK answer's time, ms (inside the window). */
  times: number[];
  durationS: number;
}

export class GrpcLoad {
  private readonly clients: grpc.Client[];

  constructor(host: string, port: number, channels: number) {
    this.clients = Array.from(
      { length: Math.max(1, channels) },
      (_, k) =>
        new grpc.Client(`${host}:${port}`, grpc.credentials.createInsecure(), {
          'grpc.max_receive_message_length': -1,
          'grpc.max_send_message_length': -1,
          'grpc.enable_retries': 0,
          'grpc.enable_channelz': 0,
          'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
          'anymax.channel': k,
        }),
    );
  }

  /** One call on channel k: its raw answer, or its ServiceError. */
  call(request: Buffer, k = 0, deadlineMs = 30_000): Promise<Buffer> {
    return new Promise((resolve, reject) =>
      this.clients[k % this.clients.length].makeUnaryRequest(MODEL_INFER, identity, identity, request, { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve(res!),
      ),
    );
  }

  /**
   * `concurrency` calls in flight for `seconds` (each lane starts a call when its last one ends);
   * answers counted only inside the window; `times` collects OK answers' times when given.
   */
  run(request: Buffer, concurrency: number, seconds: number, times?: number[], graceMs = 10_000): Promise<GrpcRunResult> {
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    const res: GrpcRunResult = { ok: 0, statusCodes: {}, failed: 0, timeouts: 0, times: times ?? [], durationS: seconds };
    const open: (grpc.ClientUnaryCall | undefined)[] = new Array(concurrency);
    let lanes = concurrency;
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(cut);
        resolve(res);
      };
      // Calls still open long after the window are cancelled (their callbacks then end the lanes).
      const cut = setTimeout(() => {
        for (const c of open) c?.cancel();
      }, seconds * 1000 + graceMs);
      const lane = (k: number) => {
        const client = this.clients[k % this.clients.length];
        const start = () => {
          const s = performance.now();
          if (s >= end) {
            open[k] = undefined;
            if (--lanes === 0) finish();
            return;
          }
          open[k] = client.makeUnaryRequest(MODEL_INFER, identity, identity, request, (err) => {
            const now = performance.now();
            if (err) {
              if (err.code === grpc.status.CANCELLED && now > end + graceMs - 1) res.timeouts++;
              else {
                res.failed++;
                const name = grpc.status[err.code] ?? String(err.code);
                res.statusCodes[name] = (res.statusCodes[name] ?? 0) + 1;
              }
            } else if (now <= end) {
              res.ok++;
              if (times) times.push(now - s);
            }
            start();
          });
        };
        start();
      };
      for (let k = 0; k < concurrency; k++) lane(k);
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
