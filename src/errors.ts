import { STATUS_CODES } from 'node:http';

/**
 * The errors the API answers with. Every non-2xx response has the shape
 * {"statusCode", "code", "error", "message"} (plus "issues" for validation), and every error
 * thrown anywhere in the service is turned into one by the single error handler
 * (src/plugins/errors.ts). Instances cross the worker boundary as plain objects
 * (see toPlain / fromPlain), since structured clone drops class identity.
 */

export type ErrorCode =
  | 'INVALID_REQUEST'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'TOO_MANY_ELEMENTS'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  /** 400: not well-formed HTTP/1.1 (framing, request line, headers, URL encoding, Host). */
  | 'MALFORMED_REQUEST'
  /** 408: the headers or the body did not arrive in time. */
  | 'REQUEST_TIMEOUT'
  | 'URI_TOO_LONG'
  /** 417: an Expect other than 100-continue. */
  | 'EXPECTATION_FAILED'
  /** 431: request line and headers over Node's maxHeaderSize. */
  | 'HEADERS_TOO_LARGE'
  | 'OVERLOADED'
  | 'TIMEOUT'
  | 'SHUTTING_DOWN'
  | 'WORKER_CRASHED'
  | 'CLIENT_GONE'
  | 'INTERNAL';

/** One validation problem: where (a JSON path) and what. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  // nginx's convention for a client that closed the connection first: logged, never sent.
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function reasonPhrase(statusCode: number): string {
  return REASONS[statusCode] ?? STATUS_CODES[statusCode] ?? 'Error';
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    readonly issues?: Issue[],
    /** Seconds, for 503s. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): Record<string, unknown> {
    return {
      statusCode: this.statusCode,
      code: this.code,
      error: reasonPhrase(this.statusCode),
      message: this.message,
      ...(this.issues ? { issues: this.issues } : {}),
    };
  }
}

/** The 503 of a readiness probe while the workers start or the queue is full (/health/ready, /v2/health/ready). */
export const notReady = () => new ApiError(503, 'OVERLOADED', 'not ready: workers starting or queue full', undefined, 1);

export const badRequest = (message: string, issues?: Issue[]) =>
  new ApiError(400, 'INVALID_REQUEST', message, issues ?? undefined);

/**
 * A 400 echoes at most this many issues, and this many names in one issue's list (unknown
 * fields), then says how many more: a body of 400,000 unknown keys was answered with all of them
 * twice (5 MiB in, 12 MiB out).
 */
export const MAX_ECHOED = 20;
/** Longer names are cut in messages (paths keep them whole, so a path is still exact). */
export const MAX_ECHOED_CHARS = 1000;

const count = (n: number) => n.toLocaleString('en-US');

/** "a, b, ..." of the first MAX_ECHOED names, each cut to MAX_ECHOED_CHARS, then "... and N more". */
export function echoList(names: readonly string[]): string {
  const shown = names.slice(0, MAX_ECHOED).map(cut).join(', ');
  return names.length > MAX_ECHOED ? `${shown}, ... and ${count(names.length - MAX_ECHOED)} more` : shown;
}

function cut(s: string): string {
  if (s.length <= MAX_ECHOED_CHARS) return s;
  // Not between the halves of a surrogate pair.
  const c = s.charCodeAt(MAX_ECHOED_CHARS - 1);
  const end = c >= 0xd800 && c <= 0xdbff ? MAX_ECHOED_CHARS - 1 : MAX_ECHOED_CHARS;
  return `${s.slice(0, end)}...(${count(s.length)} characters)`;
}

/**
 * The 400 for a list of validation issues: the first MAX_ECHOED of them, and a message joining
 * theirs with "; " (then "; ... and N more issues").
 */
export function invalidRequest(issues: Issue[]): ApiError {
  const shown = issues.length > MAX_ECHOED ? issues.slice(0, MAX_ECHOED) : issues;
  let message = shown.map((i) => i.message).join('; ');
  if (issues.length > shown.length) message += `; ... and ${count(issues.length - shown.length)} more issues`;
  return badRequest(message, shown);
}

/** Marker so an ApiError thrown in a worker can be rebuilt on the main thread. */
export interface PlainApiError {
  __apiError: true;
  statusCode: number;
  code: ErrorCode;
  message: string;
  issues?: Issue[];
}

export function toPlain(e: ApiError): PlainApiError {
  return { __apiError: true, statusCode: e.statusCode, code: e.code, message: e.message, issues: e.issues };
}

export function isPlainApiError(v: unknown): v is PlainApiError {
  return typeof v === 'object' && v !== null && (v as PlainApiError).__apiError === true;
}

export function fromPlain(p: PlainApiError): ApiError {
  return new ApiError(p.statusCode, p.code, p.message, p.issues);
}

/** The status of each code: the README's table of errors, and the OpenAPI Error schema's enum. */
export const STATUS_OF: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  MALFORMED_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_ELEMENTS: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EXPECTATION_FAILED: 417,
  HEADERS_TOO_LARGE: 431,
  // Logged and counted, never sent: the client has gone (nginx's 499).
  CLIENT_GONE: 499,
  INTERNAL: 500,
  WORKER_CRASHED: 500,
  OVERLOADED: 503,
  TIMEOUT: 503,
  SHUTTING_DOWN: 503,
};

/** The codes a client can receive (CLIENT_GONE is never sent). */
export const ERROR_CODES = Object.keys(STATUS_OF).filter((c) => c !== 'CLIENT_GONE') as [ErrorCode, ...ErrorCode[]];

/** The 415 for a Content-Type other than application/json, or none (undefined). */
export const unsupportedMediaType = (contentType: string | undefined) =>
  new ApiError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    contentType === undefined
      ? 'Content-Type must be application/json (none was given)'
      : `Content-Type must be application/json (got ${JSON.stringify(contentType)})`,
  );

/** A client's text echoed in a message: JSON-quoted, cut after 100 characters. */
export const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/** A client's value echoed in a message: its JSON text, cut after 100 characters. */
export function quoteValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}...` : s;
}
