import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/**
 * The tests' gRPC client: grpc-js over the project's proto (proto/grpc_service.proto), as a
 * tritonclient.grpc user's stub would be (no receive limit, as tritonclient sets). Calls are
 * promises that resolve to the response or reject with the ServiceError (code, details).
 */

const PROTO = fileURLToPath(new URL('../../proto/grpc_service.proto', import.meta.url));
const OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface InferenceClient {
  call(method: string, request: object, deadlineMs?: number): Promise<Reply>;
  raw: grpc.Client;
  close(): void;
}

export function inferenceClient(port: number, options: grpc.ChannelOptions = {}, noRetry = false): InferenceClient {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, OPTIONS));
  const Service = (pkg.inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...options });
  return {
    raw: client,
    async call(method, request, deadlineMs = 10_000) {
      const once = () =>
        new Promise<Reply>((resolve, reject) => {
          const fn = (client as unknown as Record<string, Function>)[method].bind(client); // eslint-disable-line @typescript-eslint/no-unsafe-function-type
          fn(request, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: Reply) => (err ? reject(err) : resolve(res)));
        });
      // The load shedding of a stalled event loop (the test process starved of CPU in a full
      // parallel run) is retried, as the REST side's is: it is not an answer to check.
      for (let i = 0; ; i++) {
        try {
          return await once();
        } catch (e) {
          const err = e as grpc.ServiceError;
          if (!(err.code === grpc.status.RESOURCE_EXHAUSTED && /event loop is stalled/.test(err.details)) || i >= 100 || noRetry) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    close: () => client.close(),
  };
}

/** A health client (grpc.health.v1.Health) on the same port. */
export function healthClient(port: number) {
  const def = protoLoader.loadSync(fileURLToPath(new URL('../../node_modules/grpc-health-check/proto/health/v1/health.proto', import.meta.url)), OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>; // eslint-disable-line @typescript-eslint/no-unsafe-function-type
  return {
    client,
    check: (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check({ service }, { deadline: Date.now() + 2000 }, (err: grpc.ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))),
      ),
  };
}

/** An InferParameter of a number (int64 for an integer, double otherwise), boolean or string. */
export function param(v: number | boolean | string | bigint) {
  if (typeof v === 'boolean') return { bool_param: v };
  if (typeof v === 'string') return { string_param: v };
  if (typeof v === 'bigint') return { int64_param: v.toString() };
  return Number.isInteger(v) ? { int64_param: String(v) } : { double_param: v };
}

/** A raw little-endian tensor of values as FP64 / FP32, or FP16 / BF16 bit patterns (numbers 0..65535). */
export function tensorBytes(values: ArrayLike<number>, datatype: 'FP64' | 'FP32' | 'FP16' | 'BF16'): Buffer {
  const size = { FP64: 8, FP32: 4, FP16: 2, BF16: 2 }[datatype];
  const out = Buffer.alloc(values.length * size);
  for (let k = 0; k < values.length; k++) {
    if (datatype === 'FP64') out.writeDoubleLE(values[k], k * 8);
    else if (datatype === 'FP32') out.writeFloatLE(values[k], k * 4);
    else out.writeUInt16LE(values[k], k * 2);
  }
  return out;
}

/** An output's raw bytes as numbers of its datatype. */
export function rawValues(bytes: Buffer, datatype: string): number[] {
  const out: number[] = [];
  const step = datatype === 'FP32' ? 4 : 8;
  for (let at = 0; at < bytes.length; at += step) {
    if (datatype === 'FP64') out.push(bytes.readDoubleLE(at));
    else if (datatype === 'FP32') out.push(bytes.readFloatLE(at));
    else if (datatype === 'INT64') out.push(Number(bytes.readBigInt64LE(at)));
    else throw new Error(`no reader for ${datatype}`);
  }
  return out;
}
