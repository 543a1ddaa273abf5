/**
 * The errors the API answers with. Every non-2xx response has the shape
 * {"statusCode", "code", "error", "message"} (plus "issues" for validation), and every error
 * thrown anywhere in the service is turned into one by the single error handler
 * (src/plugins/errors.ts). Instances cross the worker boundary as plain objects
 * (see toPlain / fromPlain), since structured clone drops class identity.
 */

/** Every code the API answers with, and its status (README "Errors" lists them too). */
export const ERROR_CODES = [
  'INVALID_REQUEST', // 400: the body or a field is invalid
  'MALFORMED_REQUEST', // 400: not well-formed HTTP/1.1 (framing, request line, headers, URL, Host)
  'NOT_FOUND', // 404
  'METHOD_NOT_ALLOWED', // 405, with Allow
  'REQUEST_TIMEOUT', // 408: headers or body did not arrive in time
  'PAYLOAD_TOO_LARGE', // 413
  'TOO_MANY_ELEMENTS', // 413
  'URI_TOO_LONG', // 414
  'UNSUPPORTED_MEDIA_TYPE', // 415
  'EXPECTATION_FAILED', // 417: an Expect other than 100-continue
  'HEADERS_TOO_LARGE', // 431: request line and headers over Node's maxHeaderSize
  'INTERNAL', // 500
  'WORKER_CRASHED', // 500
  'OVERLOADED', // 503
  'TIMEOUT', // 503
  'SHUTTING_DOWN', // 503
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One validation problem: where (a JSON path) and what. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function reasonPhrase(statusCode: number): string {
  return REASONS[statusCode] ?? 'Error';
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

export const badRequest = (message: string, issues?: Issue[]) =>
  new ApiError(400, 'INVALID_REQUEST', message, issues ?? undefined);

/** The 415 for a Content-Type other than application/json, or none (undefined). */
export const unsupportedMediaType = (contentType: string | undefined) =>
  new ApiError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    contentType === undefined
      ? 'Content-Type must be application/json (none was given)'
      : `Content-Type must be application/json (got ${JSON.stringify(contentType)})`,
  );

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
